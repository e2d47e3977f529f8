/*
 * subscriber: prints the messages of a topic as they arrive, starting with
 * the newest LAST retained ones, until the topic is deleted or Ctrl-C.
 *
 *   ./subscriber [TOPIC [URL [CA_FILE [LAST]]]]
 *
 * Defaults: topic "news", URL https://127.0.0.1:5500, the certificate
 * `drift serve` generates, .drift/cert.pem (run from the repository root),
 * and LAST 10. Build (from the repository root, after `scripts/install-c PREFIX`
 * and with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig; see README.md, "C"):
 *
 *   cc -std=c11 -Wall examples/c/subscriber.c $(pkg-config --cflags --libs drift) -o subscriber
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "drift.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static int fail(const char *what, drift_status status) {
  fprintf(stderr, "subscriber: %s: %s: %s\n", what, drift_status_str(status),
          drift_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *topic = argc > 1 ? argv[1] : "news";
  const char *url = argc > 2 ? argv[2] : "https://127.0.0.1:5500";
  const char *ca_file = argc > 3 ? argv[3] : ".drift/cert.pem";
  unsigned long long last = argc > 4 ? strtoull(argv[4], NULL, 10) : 10;
  signal(SIGINT, on_sigint);

  drift_client_options *opts = drift_client_options_new();
  drift_status s = drift_client_options_set_ca_file(opts, ca_file);
  if (s != DRIFT_STATUS_OK) return fail("options", s);
  drift_client *client = NULL;
  s = drift_client_new(url, opts, &client);
  drift_client_options_free(opts);
  if (s != DRIFT_STATUS_OK) return fail("client", s);

  drift_subscribe_options *sopts = drift_subscribe_options_new();
  drift_subscribe_options_set_last(sopts, last);
  drift_subscription *sub = NULL;
  s = drift_client_subscribe(client, topic, sopts, &sub);
  drift_subscribe_options_free(sopts);
  if (s != DRIFT_STATUS_OK) {
    drift_client_free(client);
    return fail("subscribe", s);
  }
  fprintf(stderr, "subscribed to %s at %s (Ctrl-C to stop)\n", topic, url);

  int rc = 0;
  while (!interrupted) {
    drift_message *msg = NULL;
    /* Wake up every 500 ms to notice Ctrl-C. */
    s = drift_subscription_next(sub, 500, &msg);
    if (s == DRIFT_STATUS_TIMEOUT) continue;
    if (s != DRIFT_STATUS_OK) {
      rc = s == DRIFT_STATUS_CLOSED ? 0 : fail("next", s);
      break;
    }
    switch (drift_message_kind(msg)) {
      case DRIFT_KIND_MESSAGE: {
        const uint8_t *data;
        size_t len;
        drift_message_payload(msg, &data, &len); /* borrowed from msg */
        printf("%llu-%llu %.*s\n", (unsigned long long)drift_message_epoch(msg),
               (unsigned long long)drift_message_seq(msg), (int)len, (const char *)data);
        fflush(stdout);
        break;
      }
      case DRIFT_KIND_GAP: {
        uint64_t from, to;
        drift_gap_reason reason;
        drift_message_gap(msg, &from, &to, &reason);
        printf("-- missed %llu..%llu (%s)\n", (unsigned long long)from,
               (unsigned long long)to, drift_gap_reason_str(reason));
        break;
      }
      case DRIFT_KIND_END:
        printf("-- ended: %s\n", drift_message_end_reason(msg));
        break;
      default:
        break;
    }
    drift_message_free(msg); /* payload and reason go with it */
  }
  drift_subscription_free(sub); /* unsubscribes */
  drift_client_free(client);
  return rc;
}
