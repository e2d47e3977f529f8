/*
 * server.c: the in-process server's options and certificate file. Sets
 * options by name as `drift serve` takes them (and sees bad names and values
 * refused with the option named), then trusts a TLS server through the CA
 * file from drift_server_ca_cert_path, which lives exactly as long as the
 * server, trusts a certificate made by `openssl req -x509` (marked as a CA)
 * through that very file, and keeps topics in a data directory across a
 * restart. Prints
 * "server: N passed, N failed"; exits non-zero on failure.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Whether a file can be opened at `path`. */
static bool exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f) fclose(f);
  return f != NULL;
}

/* Whether the file at `path` holds exactly `text`. */
static bool file_holds(const char *path, const char *text) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  static char buf[16 * 1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strcmp(buf, text) == 0;
}

static void test_options_by_name(void) {
  drift_server_config *cfg = drift_server_config_new();
  CHECK_OK(drift_server_config_set(cfg, "max_streams", "64"));
  CHECK_OK(drift_server_config_set(cfg, "history_bytes", "1MiB"));
  CHECK_OK(drift_server_config_set(cfg, "heartbeat", "500ms"));
  CHECK_OK(drift_server_config_set(cfg, "cors_origin", "https://a.example,*"));
  CHECK_OK(drift_server_config_set(cfg, "require_create", "true"));
  CHECK_STATUS(drift_server_config_set(cfg, "queue_messages", "x"),
               DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK_STR(drift_last_error(), "option queue_messages: expected a whole number, got 'x'");
  CHECK_STATUS(drift_server_config_set(cfg, "no_such_option", "1"),
               DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(drift_last_error(), "no_such_option") != NULL);
  /* A limit that cannot work is refused, and the config keeps its value. */
  CHECK_STATUS(drift_server_config_set(cfg, "max_topics", "0"),
               DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(drift_server_config_set(cfg, NULL, "1"), DRIFT_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(drift_server_config_set(NULL, "threads", "1"), DRIFT_STATUS_NULL_ARGUMENT);

  /* The server runs with them: require_create refuses an uncreated topic. */
  CHECK_OK(drift_server_config_set(cfg, "h2c", "true"));
  drift_server *server = NULL;
  CHECK_OK(drift_server_start(cfg, &server));
  drift_server_config_free(cfg);
  if (!server) return;
  CHECK(drift_server_ca_cert_path(server) == NULL); /* h2c: no certificate */
  drift_client *client = NULL;
  CHECK_OK(drift_client_new(drift_server_url(server), NULL, &client));
  CHECK_STATUS(drift_client_publish(client, "t", (const uint8_t *)"x", 1, NULL, NULL, NULL),
               DRIFT_STATUS_NOT_FOUND);
  drift_client_free(client);
  drift_server_free(server);
}

/* A client that trusts only the CA file `ca` publishes the first message of
 * topic "t" on `server`. */
static void check_first_publish_trusting(drift_server *server, const char *ca) {
  drift_client_options *opts = drift_client_options_new();
  CHECK_OK(drift_client_options_set_ca_file(opts, ca));
  drift_client *client = NULL;
  CHECK_OK(drift_client_new(drift_server_url(server), opts, &client));
  drift_client_options_free(opts);
  uint64_t seq = 0;
  CHECK_OK(drift_client_publish(client, "t", (const uint8_t *)"x", 1, &seq, NULL, NULL));
  CHECK(seq == 1);
  drift_client_free(client);
}

static void test_ca_cert_path(void) {
  drift_server *server = NULL;
  CHECK_OK(drift_server_start(NULL, &server));
  if (!server) return;
  const char *path = drift_server_ca_cert_path(server);
  CHECK(path != NULL);
  if (!path) {
    drift_server_free(server);
    return;
  }
  CHECK(drift_server_cert_path(server) == NULL); /* the certificate is in memory */
  CHECK(file_holds(path, drift_server_ca_cert_pem(server)));
  CHECK(drift_server_ca_cert_path(server) == path); /* written once */

  /* A client trusts the server through the file. */
  check_first_publish_trusting(server, path);

  /* Stopping keeps the file (the server and its strings live on); freeing
   * removes it. */
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  CHECK_OK(drift_server_stop(server));
  CHECK(exists(copy));
  drift_server_free(server);
  CHECK(!exists(copy));
  CHECK(drift_server_ca_cert_path(NULL) == NULL);
  CHECK(drift_last_error_status() == DRIFT_STATUS_NULL_ARGUMENT);
}

/* `openssl req -x509` with its defaults marks the certificate as a CA
 * (CA:TRUE); trusting exactly that certificate must still work, as in curl. */
static void test_openssl_self_signed(void) {
  char dir[] = "/tmp/drift-c-openssl-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char cert[256], key[256], cmd[1024];
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
           "-keyout '%s' -out '%s' 2>/dev/null",
           key, cert);
  CHECK(system(cmd) == 0);

  drift_server_config *cfg = drift_server_config_new();
  CHECK_OK(drift_server_config_set_tls_files(cfg, cert, key));
  drift_server *server = NULL;
  CHECK_OK(drift_server_start(cfg, &server));
  drift_server_config_free(cfg);
  if (server) {
    check_first_publish_trusting(server, cert);
    drift_server_free(server);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

/* A server on `dir`, h2c; NULL (with the status in *status) if it fails. */
static drift_server *start_on(const char *dir, drift_status *status) {
  drift_server_config *cfg = drift_server_config_new();
  CHECK_OK(drift_server_config_set_h2c(cfg, true));
  CHECK_OK(drift_server_config_set_data_dir(cfg, dir));
  CHECK_OK(drift_server_config_set_fsync(cfg, "100ms"));
  drift_server *server = NULL;
  *status = drift_server_start(cfg, &server);
  drift_server_config_free(cfg);
  return server;
}

static void publish_to(drift_server *server, uint64_t *seq, uint64_t *epoch) {
  drift_client *client = NULL;
  CHECK_OK(drift_client_new(drift_server_url(server), NULL, &client));
  CHECK_OK(drift_client_publish(client, "kept", (const uint8_t *)"x", 1, seq, epoch, NULL));
  drift_client_free(client);
}

static void test_data_dir(void) {
  char dir[] = "/tmp/drift-c-data-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  drift_status status;
  drift_server *server = start_on(dir, &status);
  CHECK_OK(status);
  if (!server) return;
  uint64_t seq = 0, epoch = 0, seq2 = 0, epoch2 = 0;
  publish_to(server, &seq, &epoch);
  CHECK(seq == 1);
  /* A second server on the same directory is refused while the first runs. */
  drift_server *other = start_on(dir, &status);
  CHECK(other == NULL);
  CHECK(status == DRIFT_STATUS_STORAGE);
  CHECK(strstr(drift_last_error(), "in use") != NULL);
  drift_server_free(server);
  /* After a restart the topic has its epoch and goes on counting. */
  server = start_on(dir, &status);
  CHECK_OK(status);
  if (!server) return;
  publish_to(server, &seq2, &epoch2);
  CHECK(epoch2 == epoch);
  CHECK(seq2 == 2);
  drift_server_free(server);
  /* A mode that is neither "always" nor an interval is refused. */
  drift_server_config *cfg = drift_server_config_new();
  CHECK_STATUS(drift_server_config_set_fsync(cfg, "sometimes"), DRIFT_STATUS_INVALID_ARGUMENT);
  drift_server_config_free(cfg);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

int main(void) {
  test_options_by_name();
  test_ca_cert_path();
  test_openssl_self_signed();
  test_data_dir();
  return report("server");
}
