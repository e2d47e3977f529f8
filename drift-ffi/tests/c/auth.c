/*
 * auth.c: a server that authenticates with JWTs (the HS256 secret file
 * and the token come from the Rust harness, in DRIFT_TEST_SECRET_FILE and
 * DRIFT_TEST_TOKEN; the token may publish and subscribe to "news" only),
 * and clients with and without drift_client_options_set_token. Prints
 * "auth: N passed, N failed"; exits non-zero on failure.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static drift_client *client_with(const drift_server *server, const char *token) {
  drift_client_options *opts = drift_client_options_new();
  CHECK_OK(drift_client_options_set_token(opts, token));
  drift_client *client = NULL;
  CHECK_OK(drift_client_new(drift_server_url(server), opts, &client));
  drift_client_options_free(opts);
  return client;
}

int main(void) {
  const char *secret = getenv("DRIFT_TEST_SECRET_FILE");
  const char *token = getenv("DRIFT_TEST_TOKEN");
  CHECK(secret != NULL && token != NULL);
  if (!secret || !token) return report("auth");

  drift_server_config *cfg = drift_server_config_new();
  CHECK_OK(drift_server_config_set_h2c(cfg, true));
  CHECK_OK(drift_server_config_set_jwt_secret_file(cfg, secret));
  CHECK_OK(drift_server_config_set_jwt_claims(cfg, NULL, NULL));
  CHECK_OK(drift_server_config_set_jwt_allow_no_exp(cfg, false));
  CHECK_OK(drift_server_config_set_anonymous(cfg, "public.*"));
  CHECK_OK(drift_server_config_set_allow_query_token(cfg, false));
  CHECK_STATUS(drift_server_config_add_jwt_public_key(cfg, NULL), DRIFT_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(drift_server_config_set_jwt_secret_file(NULL, secret),
               DRIFT_STATUS_NULL_ARGUMENT);
  drift_server *server = NULL;
  CHECK_OK(drift_server_start(cfg, &server));
  drift_server_config_free(cfg);
  if (!server) return report("auth");

  /* With the token: "news" publishes; another topic is forbidden. */
  drift_client *client = client_with(server, token);
  uint64_t seq = 0;
  CHECK_OK(drift_client_publish(client, "news", (const uint8_t *)"x", 1, &seq, NULL, NULL));
  CHECK(seq == 1);
  CHECK_STATUS(drift_client_publish(client, "other", (const uint8_t *)"x", 1, NULL, NULL, NULL),
               DRIFT_STATUS_FORBIDDEN);
  CHECK(strstr(drift_last_error(), "publish to topic \"other\"") != NULL);
  CHECK(strstr(drift_last_error(), token) == NULL); /* never echoed */
  drift_client_free(client);

  /* Without one (or with the token removed again): 401, asking for one. */
  drift_client *anonymous = client_with(server, NULL);
  CHECK_STATUS(drift_client_publish(anonymous, "news", (const uint8_t *)"x", 1, NULL, NULL, NULL),
               DRIFT_STATUS_UNAUTHORIZED);
  CHECK(strstr(drift_last_error(), "needs a token") != NULL);
  drift_client_free(anonymous);

  /* A key file that is not there stops the start, naming it. */
  cfg = drift_server_config_new();
  CHECK_OK(drift_server_config_add_jwt_public_key(cfg, "/nonexistent/key.pem"));
  drift_server *bad = NULL;
  CHECK_STATUS(drift_server_start(cfg, &bad), DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(drift_last_error(), "/nonexistent/key.pem") != NULL);
  CHECK(bad == NULL);
  drift_server_config_free(cfg);

  drift_server_free(server);
  return report("auth");
}
