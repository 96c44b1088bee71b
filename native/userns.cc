// User namespaces for idmapped mounts: a namespace that exists only to carry an id mapping
// (mount_setattr(MOUNT_ATTR_IDMAP) takes the mapping from a user namespace fd). A short-lived
// child is cloned into a new user namespace, its uid_map and gid_map are written, the namespace
// is opened through /proc, and the child is released and reaped before the call returns: no
// process outlives the call, and the fd alone keeps the namespace.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "calls.h"
#include "errors.h"
#include "sys.h"

namespace ovl {

namespace {

// Writes `text` to /proc/PID/`name` in one write(2), as the kernel wants a map written.
int WriteProcFile(long pid, const char* name, const std::string& text, SysError& err) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  int fd = RawResult(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (err.Check(fd, "open")) {
    err.path = path;
    return fd;
  }
  long n;
  do n = write(fd, text.data(), text.size());
  while (n < 0 && errno == EINTR);
  int rc = n < 0 ? -errno : (static_cast<size_t>(n) == text.size() ? 0 : -EIO);
  close(fd);
  if (err.Check(rc, "write")) err.path = path;
  return rc;
}

}  // namespace

int CallUserns(const std::string& uid_map, const std::string& gid_map, SysError& err) {
  int gate[2];
  int rc = RawResult(pipe2(gate, O_CLOEXEC));
  if (err.Check(rc, "pipe2")) return rc;
  // Every signal blocked across the clone: the child inherits the mask, so a signal meant for
  // the process group (a terminal's Ctrl-C) never runs Node's handlers in the copy; SIGKILL,
  // which ends it, cannot be blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // fork()'s semantics (no new stack) without glibc's fork handlers: the child of a threaded
  // process may only make async-signal-safe calls, and it makes raw syscalls only.
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    char c;
    // Gone with the thread that made it, whatever happens to that thread.
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // Every fd but its end of the gate: a child another thread clones at the same time must
    // not hold this gate's write end open (each would wait for the other's EOF).
    if (gate[0] > 0) syscall(SYS_close_range, 0, gate[0] - 1, 0);
    syscall(SYS_close_range, gate[0] + 1, ~0U, 0);
    // Until the parent closes its end: EOF (or SIGKILL).
    while (syscall(SYS_read, gate[0], &c, 1) < 0 && errno == EINTR) {
    }
    syscall(SYS_exit, 0);
  }
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(gate[0]);
  if (pid < 0) {
    rc = -clone_errno;
    close(gate[1]);
    err.Check(rc, "clone");
    return rc;
  }
  // setgroups "deny" first: what an unprivileged writer of gid_map needs; harmless otherwise.
  rc = WriteProcFile(pid, "setgroups", "deny", err);
  if (rc == 0) rc = WriteProcFile(pid, "uid_map", uid_map, err);
  if (rc == 0) rc = WriteProcFile(pid, "gid_map", gid_map, err);
  int fd = -1;
  if (rc == 0) {
    std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
    fd = RawResult(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (err.Check(fd, "open")) err.path = path;
  }
  close(gate[1]);
  kill(static_cast<pid_t>(pid), SIGKILL);  // it may be anywhere before its read: no waiting on it
  int status;
  while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  return rc < 0 ? rc : fd;
}

}  // namespace ovl
