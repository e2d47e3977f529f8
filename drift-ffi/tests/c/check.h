/*
 * Tiny test helpers shared by the C test programs: CHECK macros that count
 * passes and failures (thread-safe) and print the failing expression with
 * the status name and libdrift's last error.
 */
#ifndef DRIFT_TEST_CHECK_H
#define DRIFT_TEST_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "drift.h"

static atomic_int checks_passed;
static atomic_int checks_failed;

#define FAIL_AT(...)                                                          \
  do {                                                                        \
    atomic_fetch_add(&checks_failed, 1);                                      \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                           \
    fprintf(stderr, __VA_ARGS__);                                             \
    fputc('\n', stderr);                                                      \
  } while (0)

/* A condition that must hold. */
#define CHECK(cond)                                                           \
  do {                                                                        \
    if (cond)                                                                 \
      atomic_fetch_add(&checks_passed, 1);                                    \
    else                                                                      \
      FAIL_AT("CHECK failed: %s", #cond);                                     \
  } while (0)

/* A libdrift call that must return `want`. */
#define CHECK_STATUS(call, want)                                              \
  do {                                                                        \
    drift_status got_ = (call);                                               \
    if (got_ == (want))                                                       \
      atomic_fetch_add(&checks_passed, 1);                                    \
    else                                                                      \
      FAIL_AT("%s returned %s, expected %s (last error: %s)", #call,          \
              drift_status_str(got_), drift_status_str(want),                 \
              drift_last_error());                                            \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, DRIFT_STATUS_OK)

/* Two NUL-terminated strings that must be equal (NULL never is). */
#define CHECK_STR(a, b)                                                       \
  do {                                                                        \
    const char *a_ = (a), *b_ = (b);                                          \
    if (a_ && b_ && strcmp(a_, b_) == 0)                                      \
      atomic_fetch_add(&checks_passed, 1);                                    \
    else                                                                      \
      FAIL_AT("CHECK_STR failed: %s = \"%s\", %s = \"%s\"", #a,               \
              a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)");                    \
  } while (0)

/* Prints the summary line the Rust harness reads; the exit status. */
static inline int report(const char *program) {
  int passed = atomic_load(&checks_passed);
  int failed = atomic_load(&checks_failed);
  printf("%s: %d passed, %d failed\n", program, passed, failed);
  fflush(stdout);
  return failed == 0 && passed > 0 ? 0 : 1;
}

#endif /* DRIFT_TEST_CHECK_H */
