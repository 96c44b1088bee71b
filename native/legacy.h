// mount(2) shared by the single call and the batched call.
#pragma once

#include <optional>
#include <string>

#include "errors.h"

namespace ovl {

struct LegacyMountArgs {
  std::optional<std::string> source;
  std::string target;
  std::optional<std::string> fstype;
  unsigned flags = 0;
  std::optional<std::string> data;
};

// Both return 0 or -errno and fill `err` on failure.
int LegacyMount(const LegacyMountArgs& args, SysError& err);
int LegacyMountInDir(int dirfd, const LegacyMountArgs& args, SysError& err);

}  // namespace ovl
