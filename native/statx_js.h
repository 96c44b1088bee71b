// struct statx as a JS object, shared by statx() and the batched statx step.
#pragma once

#include <napi.h>
#include <sys/stat.h>

#include "sys.h"

namespace ovl {

inline Napi::Object StatxObject(Napi::Env env, const struct statx& st) {
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { o.Set(k, Napi::Number::New(env, v)); };
  num("mask", st.stx_mask);
  num("mode", st.stx_mode);
  num("nlink", st.stx_nlink);
  num("uid", st.stx_uid);
  num("gid", st.stx_gid);
  num("ino", static_cast<double>(st.stx_ino));
  num("size", static_cast<double>(st.stx_size));
  num("devMajor", st.stx_dev_major);
  num("devMinor", st.stx_dev_minor);
  num("rdevMajor", st.stx_rdev_major);
  num("rdevMinor", st.stx_rdev_minor);
  if (st.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE)) {
    num("mountId", static_cast<double>(st.stx_mnt_id));
    o.Set("mountIdUnique", Napi::Boolean::New(env, (st.stx_mask & STATX_MNT_ID_UNIQUE) != 0));
  }
  return o;
}

}  // namespace ovl
