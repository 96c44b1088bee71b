// The kernel log (/dev/kmsg) as a mount reads it back: one journal per process of the records
// read from it, each with the kernel's sequence number, so that a cursor is a sequence number
// and every call finds every record logged since its cursor, whichever call's read took it off
// the fd and whichever thread that ran on (batches on the thread pool finish in any order).
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "calls.h"
#include "errors.h"

namespace ovl {

namespace {

std::mutex journal_mutex;
std::deque<std::pair<uint64_t, std::string>> journal;
uint64_t last_seq = 0;
// The records kept: a mount's own lines are recent; a flood between a cursor and its read-back
// loses the oldest.
constexpr size_t kJournalRecords = 4096;
// Reads per call at most: a log written as fast as it is read does not hold the caller forever.
constexpr int kMaxReads = 65536;

// "prio,seq,usec,flags;text": the sequence number, the second field.
uint64_t SeqOf(const char* record, size_t n) {
  const char* comma = static_cast<const char*>(memchr(record, ',', n));
  return comma == nullptr ? 0 : strtoull(comma + 1, nullptr, 10);
}

}  // namespace

int CallKernelLog(int fd, uint64_t since, std::vector<std::string>& out, SysError& err) {
  std::lock_guard<std::mutex> lock(journal_mutex);
  std::vector<char> buf(8192);  // a record is at most 1 KB of text plus its dictionary
  for (int reads = 0; reads < kMaxReads; reads++) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n > 0) {
      uint64_t seq = SeqOf(buf.data(), static_cast<size_t>(n));
      // Another fd of this process (opened at the same time) may read what the journal has.
      if (journal.empty() || seq > last_seq) {
        journal.emplace_back(seq, std::string(buf.data(), static_cast<size_t>(n)));
        if (journal.size() > kJournalRecords) journal.pop_front();
        last_seq = seq;
      }
      continue;
    }
    if (n == 0) break;
    // EPIPE: the records after the position were overwritten; the next read goes on after them.
    if (errno == EINTR || errno == EPIPE) continue;
    if (errno == EAGAIN) break;
    int rc = -errno;
    err.Check(rc, "read");
    return rc;
  }
  out.push_back(std::to_string(last_seq));
  for (const auto& [seq, text] : journal) {
    if (seq > since) out.push_back(text);
  }
  return 0;
}

}  // namespace ovl
