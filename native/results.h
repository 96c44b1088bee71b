// Step results that are JS objects built from kernel structures (batch.cc makes the rest).
#pragma once

#include <napi.h>

#include <vector>

namespace ovl {

// mount_info.cc: the statmount(2) buffer CallStatmount filled, as a StatmountResult object.
Napi::Value StatmountObject(Napi::Env env, const std::vector<char>& buf);

}  // namespace ovl
