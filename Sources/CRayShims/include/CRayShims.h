#ifndef CRAYSHIMS_H
#define CRAYSHIMS_H

#include <sys/types.h>

/// Starts `path` with `argv`/`envp`; the child's fd 3 is `channel_fd`, its stdout and stderr are
/// `out_fd`/`err_fd` (or inherited when -1); no other descriptor is inherited (glibc 2.34 and
/// later). Returns 0 and the pid, or an errno value.
int swiftray_spawn(const char *path, char *const argv[], char *const envp[],
                   int channel_fd, int out_fd, int err_fd, pid_t *pid_out);

/// Starts a daemon in its own session, stdin from /dev/null, stdout and stderr to `log_fd`
/// (`channel_fd` of -1 for `swiftray_spawn` likewise skips fd 3). Returns 0 and the pid, or errno.
int swiftray_spawn_detached(const char *path, char *const argv[], char *const envp[], int log_fd, pid_t *pid_out);

/// Creates a connected pair of Unix stream sockets, both close-on-exec. Returns 0 or errno.
int swiftray_socketpair(int fds[2]);

/// Creates a pipe, both ends close-on-exec. Returns 0 or errno.
int swiftray_pipe(int fds[2]);

/// Asks the kernel to SIGKILL this process when its parent dies (Linux); no-op elsewhere.
void swiftray_die_with_parent(void);

/// Makes stdout line buffered, so a worker's prints reach the driver line by line.
void swiftray_line_buffer_stdout(void);

/// Flushes stdout and stderr.
void swiftray_flush_stdio(void);

/// Decodes a wait status: exit code (>= 0) or -signal.
int swiftray_wait_status_code(int status);

#endif
