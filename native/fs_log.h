// The fs-context message log: what the kernel queued on an fsopen/fspick fd ("e overlay: ...").
#pragma once

#include <string>
#include <vector>

namespace ovl {

// Reads messages until the queue is empty (ENODATA). Each read(2) returns one message; the
// queue keeps only the last 8. Trailing newlines are dropped, the level prefix is kept.
std::vector<std::string> DrainFsLog(int fs_fd);

}  // namespace ovl
