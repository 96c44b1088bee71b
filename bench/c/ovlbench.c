/*
 * The C reference for `npm run bench`: the syscalls of the library's mount plans, and the
 * marker syscalls, in a plain loop, timed with CLOCK_MONOTONIC. Compiled by bench/run.mjs with
 * the system cc into a temp dir. Every mode prints one line per timed unit: nanoseconds.
 *
 *   ovlbench newapi ITER TARGET UPPER WORK LAYER...    lowerdir+ strategy (UPPER/WORK "-": none)
 *   ovlbench fd ITER TARGET UPPER WORK LAYER...        fd strategy: open + statx check, SET_FD
 *   ovlbench legacy ITER TARGET DATA [CWD]             mount(2); with CWD from a thread that
 *                                                      unshares CLONE_FS and fchdir()s, as the
 *                                                      library does for data over one page
 *     each cycle: the plan's syscalls (incl. the fs-context log poll and the two statx for the
 *     mount ids), then umount2(TARGET, UMOUNT_NOFOLLOW). One line per cycle.
 *   ovlbench whiteouts DIR N      mknod(DIR/wI, S_IFCHR, 0/0) for I < N; one line: total ns
 *   ovlbench opaque DIR N         lsetxattr(DIR/dI, trusted.overlay.opaque, "y") for I < N
 *   ovlbench mkdirs DIR N         mkdir(DIR/dI) for I < N (set-up only)
 *   ovlbench tree UPPER LOWER DIRS PER_DIR   an upper with DIRS*PER_DIR entries over a lower
 *                                 (set-up for changes()): see make_tree()
 *   ovlbench spawn CMD [ARG...]   runs CMD (stdin and stdout /dev/null, stderr shared) and
 *                                 prints "WALL_NS CPU_NS": fork to wait4, and the child's user +
 *                                 system time from wait4's rusage; exits with CMD's status
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define FSOPEN_CLOEXEC_ 0x1
#define FSMOUNT_CLOEXEC_ 0x1
#define FSCONFIG_SET_FLAG_ 0
#define FSCONFIG_SET_STRING_ 1
#define FSCONFIG_SET_FD_ 5
#define FSCONFIG_CMD_CREATE_EXCL_ 8
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif

static void die(const char *what, const char *arg) {
  fprintf(stderr, "ovlbench: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int fsconfig_(int fd, unsigned cmd, const char *key, const void *value, int aux) {
  return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

/* The library drains the fs-context log before closing an fs fd: poll, and read while ready. */
static void drain_log(int fs) {
  char buf[4096];
  for (;;) {
    struct pollfd p = {fs, POLLIN, 0};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) return;
    if (read(fs, buf, sizeof buf) <= 0) return;
  }
}

/* statx of the new mount for its id and its 64-bit id, as the plan's last two steps. */
static void mount_ids(const char *target) {
  struct statx st;
  if (statx(AT_FDCWD, target, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &st) < 0) die("statx", target);
  if (statx(AT_FDCWD, target, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE, &st) < 0) die("statx", target);
}

static void unmount(const char *target) {
  if (umount2(target, UMOUNT_NOFOLLOW) < 0) die("umount2", target);
}

static void cycle_newapi(const char *target, const char *upper, const char *work, char **layers, int n) {
  int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC_);
  if (fs < 0) die("fsopen", NULL);
  for (int i = 0; i < n; i++)
    if (fsconfig_(fs, FSCONFIG_SET_STRING_, "lowerdir+", layers[i], 0) < 0) die("fsconfig lowerdir+", layers[i]);
  if (upper) {
    if (fsconfig_(fs, FSCONFIG_SET_STRING_, "upperdir", upper, 0) < 0) die("fsconfig upperdir", upper);
    if (fsconfig_(fs, FSCONFIG_SET_STRING_, "workdir", work, 0) < 0) die("fsconfig workdir", work);
  }
  if (fsconfig_(fs, FSCONFIG_SET_STRING_, "source", "overlay", 0) < 0) die("fsconfig source", NULL);
  if (fsconfig_(fs, FSCONFIG_CMD_CREATE_EXCL_, NULL, NULL, 0) < 0) die("fsconfig create", NULL);
  int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC_, 0);
  if (mnt < 0) die("fsmount", NULL);
  if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH_) < 0) die("move_mount", target);
  close(mnt);
  drain_log(fs);
  close(fs);
  mount_ids(target);
}

static void cycle_fd(const char *target, const char *upper, const char *work, char **layers, int n) {
  int fds[512 + 2];
  const char *paths[512 + 2];
  int total = 0;
  for (int i = 0; i < n; i++) paths[total++] = layers[i];
  if (upper) {
    paths[total++] = upper;
    paths[total++] = work;
  }
  for (int i = 0; i < total; i++) {
    fds[i] = open(paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fds[i] < 0) die("open", paths[i]);
  }
  /* The library checks each fd is the directory it validated (device and inode). */
  for (int i = 0; i < total; i++) {
    struct statx st;
    if (statx(fds[i], "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st) < 0) die("statx", paths[i]);
  }
  int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC_);
  if (fs < 0) die("fsopen", NULL);
  for (int i = 0; i < n; i++)
    if (fsconfig_(fs, FSCONFIG_SET_FD_, "lowerdir+", NULL, fds[i]) < 0) die("fsconfig lowerdir+ fd", paths[i]);
  if (upper) {
    if (fsconfig_(fs, FSCONFIG_SET_FD_, "upperdir", NULL, fds[n]) < 0) die("fsconfig upperdir fd", upper);
    if (fsconfig_(fs, FSCONFIG_SET_FD_, "workdir", NULL, fds[n + 1]) < 0) die("fsconfig workdir fd", work);
  }
  if (fsconfig_(fs, FSCONFIG_SET_STRING_, "source", "overlay", 0) < 0) die("fsconfig source", NULL);
  if (fsconfig_(fs, FSCONFIG_CMD_CREATE_EXCL_, NULL, NULL, 0) < 0) die("fsconfig create", NULL);
  int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC_, 0);
  if (mnt < 0) die("fsmount", NULL);
  if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH_) < 0) die("move_mount", target);
  close(mnt);
  drain_log(fs);
  close(fs);
  for (int i = 0; i < total; i++) close(fds[i]);
  mount_ids(target);
}

struct in_dir {
  int dirfd;
  const char *target, *data;
  int rc, err;
};

static void *mount_in_dir(void *p) {
  struct in_dir *j = p;
  j->rc = -1;
  if (unshare(CLONE_FS) < 0 || fchdir(j->dirfd) < 0) {
    j->err = errno;
    return NULL;
  }
  j->rc = mount("overlay", j->target, "overlay", 0, j->data);
  j->err = errno;
  return NULL;
}

static void cycle_legacy(const char *target, const char *data, const char *cwd) {
  if (!cwd) {
    if (mount("overlay", target, "overlay", 0, data) < 0) die("mount", target);
  } else {
    int dir = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) die("open", cwd);
    struct in_dir j = {dir, target, data, 0, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, mount_in_dir, &j) != 0) die("pthread_create", NULL);
    pthread_join(t, NULL);
    errno = j.err;
    if (j.rc < 0) die("mount (in dir)", target);
    close(dir);
  }
  mount_ids(target);
}

static void make_paths(const char *dir, char prefix, int n, char ***out) {
  char **p = malloc(sizeof(char *) * (size_t)n);
  for (int i = 0; i < n; i++) {
    size_t len = strlen(dir) + 16;
    p[i] = malloc(len);
    snprintf(p[i], len, "%s/%c%d", dir, prefix, i);
  }
  *out = p;
}

static void put(const char *dir, const char *name, const char *content) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("open", path);
  if (content && write(fd, content, strlen(content)) < 0) die("write", path);
  close(fd);
}

static void mkdir_p1(const char *dir, const char *name, char *out, size_t outlen) {
  snprintf(out, outlen, "%s/%s", dir, name);
  if (mkdir(out, 0755) < 0 && errno != EEXIST) die("mkdir", out);
}

/*
 * changes() set-up: DIRS directories in LOWER, each with PER_DIR/2 files f0..; in UPPER the same
 * DIRS directories, each with PER_DIR entries, cycling through: a changed lower file (f<i>), a
 * new file (n<i>), a whiteout over a lower file (f<i>, char 0/0), a new subdirectory with a file
 * (s<i>/x: two entries), and every 10th directory opaque (trusted.overlay.opaque=y). Returns
 * the number of entries made in UPPER (DIRS * PER_DIR).
 */
static long make_tree(const char *upper, const char *lower, int dirs, int per_dir) {
  long entries = 0;
  char ud[2048], ld[2048], name[64], sub[2048];
  for (int d = 0; d < dirs; d++) {
    snprintf(name, sizeof name, "d%d", d);
    mkdir_p1(lower, name, ld, sizeof ld);
    mkdir_p1(upper, name, ud, sizeof ud);
    entries++;
    if (d % 10 == 0) {
      if (lsetxattr(ud, "trusted.overlay.opaque", "y", 1, 0) < 0) die("lsetxattr", ud);
    }
    for (int i = 0; i < per_dir / 2; i++) {
      snprintf(name, sizeof name, "f%d", i);
      put(ld, name, "lower");
    }
    int made = 0;
    for (int i = 0; made < per_dir - 1; i++) {
      /* The last entry is a file when a subdirectory (two entries) would not fit. */
      int kind = (i % 4 == 3 && made + 2 > per_dir - 1) ? 1 : i % 4;
      switch (kind) {
        case 0:
          snprintf(name, sizeof name, "f%d", i);
          put(ud, name, "upper");
          made++;
          break;
        case 1:
          snprintf(name, sizeof name, "n%d", i);
          put(ud, name, NULL);
          made++;
          break;
        case 2: {
          char path[4096];
          snprintf(path, sizeof path, "%s/f%d", ud, i);
          if (mknod(path, S_IFCHR, makedev(0, 0)) < 0) die("mknod", path);
          made++;
          break;
        }
        case 3:
          snprintf(name, sizeof name, "s%d", i);
          mkdir_p1(ud, name, sub, sizeof sub);
          put(sub, "x", NULL);
          made += 2;
          break;
      }
    }
    entries += made;
  }
  return entries;
}

/* One process's wall and CPU time, as the start-up benchmark compares them. */
static int spawn_timed(char **cmd) {
  uint64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) _exit(127);
    execvp(cmd[0], cmd);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) return 127;
  uint64_t wall = now_ns() - t0;
  uint64_t cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull + (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
  printf("%llu %llu\n", (unsigned long long)wall, (unsigned long long)cpu);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: see the comment at the top of bench/c/ovlbench.c\n");
    return 2;
  }
  const char *mode = argv[1];
  if (!strcmp(mode, "spawn")) return argc < 3 ? 2 : spawn_timed(argv + 2);
  if (!strcmp(mode, "newapi") || !strcmp(mode, "fd")) {
    if (argc < 7) return 2;
    int iter = atoi(argv[2]);
    const char *target = argv[3];
    const char *upper = strcmp(argv[4], "-") ? argv[4] : NULL;
    const char *work = strcmp(argv[5], "-") ? argv[5] : NULL;
    char **layers = argv + 6;
    int n = argc - 6;
    if (n > 512) return 2;
    int fd_mode = !strcmp(mode, "fd");
    uint64_t *t = malloc(sizeof(uint64_t) * (size_t)iter);
    for (int k = 0; k < iter; k++) {
      uint64_t t0 = now_ns();
      if (fd_mode) cycle_fd(target, upper, work, layers, n);
      else cycle_newapi(target, upper, work, layers, n);
      unmount(target);
      t[k] = now_ns() - t0;
    }
    for (int k = 0; k < iter; k++) printf("%llu\n", (unsigned long long)t[k]);
    return 0;
  }
  if (!strcmp(mode, "legacy")) {
    if (argc < 5) return 2;
    int iter = atoi(argv[2]);
    const char *cwd = argc > 5 ? argv[5] : NULL;
    uint64_t *t = malloc(sizeof(uint64_t) * (size_t)iter);
    for (int k = 0; k < iter; k++) {
      uint64_t t0 = now_ns();
      cycle_legacy(argv[3], argv[4], cwd);
      unmount(argv[3]);
      t[k] = now_ns() - t0;
    }
    for (int k = 0; k < iter; k++) printf("%llu\n", (unsigned long long)t[k]);
    return 0;
  }
  if (!strcmp(mode, "whiteouts") || !strcmp(mode, "opaque") || !strcmp(mode, "mkdirs")) {
    if (argc < 4) return 2;
    int n = atoi(argv[3]);
    char **paths;
    make_paths(argv[2], mode[0] == 'w' ? 'w' : 'd', n, &paths);
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
      if (mode[0] == 'w') {
        if (mknod(paths[i], S_IFCHR, makedev(0, 0)) < 0) die("mknod", paths[i]);
      } else if (mode[0] == 'o') {
        if (lsetxattr(paths[i], "trusted.overlay.opaque", "y", 1, 0) < 0) die("lsetxattr", paths[i]);
      } else if (mkdir(paths[i], 0755) < 0) {
        die("mkdir", paths[i]);
      }
    }
    printf("%llu\n", (unsigned long long)(now_ns() - t0));
    return 0;
  }
  if (!strcmp(mode, "tree")) {
    if (argc < 6) return 2;
    printf("%ld\n", make_tree(argv[2], argv[3], atoi(argv[4]), atoi(argv[5])));
    return 0;
  }
  fprintf(stderr, "ovlbench: unknown mode %s\n", mode);
  return 2;
}
