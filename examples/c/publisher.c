/*
 * publisher: publishes each line of standard input as one message.
 *
 *   ./publisher [TOPIC [URL [CA_FILE]]]
 *
 * Defaults: topic "news", URL https://127.0.0.1:5500, and the certificate
 * `drift serve` generates, .drift/cert.pem (run from the repository root).
 * Build (from the repository root, after `scripts/install-c PREFIX`
 * and with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig; see README.md, "C"):
 *
 *   cc -std=c11 -Wall examples/c/publisher.c $(pkg-config --cflags --libs drift) -o publisher
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"

static int fail(const char *what, drift_status status) {
  fprintf(stderr, "publisher: %s: %s: %s\n", what, drift_status_str(status),
          drift_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *topic = argc > 1 ? argv[1] : "news";
  const char *url = argc > 2 ? argv[2] : "https://127.0.0.1:5500";
  const char *ca_file = argc > 3 ? argv[3] : ".drift/cert.pem";

  /* Options are a builder: make, set, use, free. */
  drift_client_options *opts = drift_client_options_new();
  drift_status s = drift_client_options_set_ca_file(opts, ca_file);
  if (s != DRIFT_STATUS_OK) return fail("options", s);
  drift_client *client = NULL;
  s = drift_client_new(url, opts, &client);
  drift_client_options_free(opts); /* the client keeps what it needs */
  if (s != DRIFT_STATUS_OK) return fail("client", s);

  char line[4096];
  int rc = 0;
  while (fgets(line, sizeof line, stdin)) {
    size_t len = strcspn(line, "\r\n");
    uint64_t seq = 0, epoch = 0;
    s = drift_client_publish(client, topic, (const uint8_t *)line, len, &seq, &epoch, NULL);
    if (s != DRIFT_STATUS_OK) {
      rc = fail("publish", s);
      break;
    }
    printf("published %llu-%llu (%zu bytes) to %s\n", (unsigned long long)epoch,
           (unsigned long long)seq, len, topic);
  }
  drift_client_free(client);
  return rc;
}
