/*
 * roundtrip.c: a Drift server and a client in one process. Creates topics,
 * publishes, subscribes with history (last N, after an id) and live, reads
 * payloads and ids, sees a gap after resuming from an expired id, and the
 * end of a subscription when its topic is deleted or the server stops.
 * Also checks the boundary from C: NULLs, bad UTF-8, status names, the last
 * error. Prints "roundtrip: N passed, N failed"; exits non-zero on failure.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define WAIT_MS 10000

/* The next item of `sub`, which must be a message with this payload and
 * seq (and, unless 0, this epoch). */
/* Reads the next message and checks it; answers its publish time (0 when
 * there was none). */
static uint64_t expect_message(drift_subscription *sub, const char *payload,
                               uint64_t seq, uint64_t epoch) {
  drift_message *msg = NULL;
  CHECK_OK(drift_subscription_next(sub, WAIT_MS, &msg));
  if (!msg) return 0;
  CHECK(drift_message_kind(msg) == DRIFT_KIND_MESSAGE);
  const uint8_t *data = NULL;
  size_t len = 0;
  CHECK_OK(drift_message_payload(msg, &data, &len));
  if (len != strlen(payload) || (len > 0 && memcmp(data, payload, len) != 0)) {
    FAIL_AT("payload is \"%.*s\", expected \"%s\"", (int)len, (const char *)data,
            payload);
  } else {
    CHECK(true);
  }
  CHECK(drift_message_seq(msg) == seq);
  if (epoch) CHECK(drift_message_epoch(msg) == epoch);
  uint64_t time_us = drift_message_time_us(msg);
  CHECK(time_us > 0);
  drift_message_free(msg);
  return time_us;
}

/* The next item of `sub`, which must be a message with this seq. */
static void expect_seq(drift_subscription *sub, uint64_t seq) {
  drift_message *msg = NULL;
  CHECK_OK(drift_subscription_next(sub, WAIT_MS, &msg));
  if (!msg) return;
  CHECK(drift_message_kind(msg) == DRIFT_KIND_MESSAGE);
  CHECK(drift_message_seq(msg) == seq);
  drift_message_free(msg);
}

/* The next item of `sub`, which must be the end with this reason. */
static void expect_end(drift_subscription *sub, const char *reason) {
  drift_message *msg = NULL;
  CHECK_OK(drift_subscription_next(sub, WAIT_MS, &msg));
  if (!msg) return;
  CHECK(drift_message_kind(msg) == DRIFT_KIND_END);
  CHECK_STR(drift_message_end_reason(msg), reason);
  drift_message_free(msg);
  /* Nothing follows the end. */
  msg = NULL;
  CHECK_STATUS(drift_subscription_next(sub, 0, &msg), DRIFT_STATUS_CLOSED);
  CHECK(msg == NULL);
  CHECK_STR(drift_subscription_end_reason(sub), reason);
}

static void publish(drift_client *client, const char *topic, const char *text,
                    uint64_t *seq, uint64_t *epoch) {
  CHECK_OK(drift_client_publish(client, topic, (const uint8_t *)text,
                                strlen(text), seq, epoch, NULL));
}

static void test_boundary(void) {
  CHECK_STR(drift_version(), DRIFT_VERSION_STRING);
  {
    /* The numeric macros say the same as the library, whose string is
     * static (the same each call, never to be freed). */
    char numbers[32];
    snprintf(numbers, sizeof numbers, "%d.%d.%d", DRIFT_VERSION_MAJOR,
             DRIFT_VERSION_MINOR, DRIFT_VERSION_PATCH);
    CHECK_STR(drift_version(), numbers);
    CHECK(drift_version() == drift_version());
  }
  CHECK_STR(drift_status_str(DRIFT_STATUS_OK), "OK");
  CHECK_STR(drift_status_str(DRIFT_STATUS_NOT_FOUND), "NOT_FOUND");
  CHECK_STR(drift_status_str(DRIFT_STATUS_PANIC), "PANIC");
  CHECK_STR(drift_status_str(DRIFT_STATUS_STORAGE_FULL), "STORAGE_FULL");
  CHECK_STR(drift_status_str(DRIFT_STATUS_QUOTA_EXCEEDED), "QUOTA_EXCEEDED");
  CHECK_STR(drift_status_str(12345), "UNKNOWN");
  CHECK(DRIFT_STATUS_OK == 0 && DRIFT_STATUS_NULL_ARGUMENT == 1 &&
        DRIFT_STATUS_INVALID_ARGUMENT == 2 && DRIFT_STATUS_PANIC == 17);

  /* NULL arguments are errors, never crashes; out-params stay untouched. */
  drift_client *client = (drift_client *)0x1;
  CHECK_STATUS(drift_client_new(NULL, NULL, &client), DRIFT_STATUS_NULL_ARGUMENT);
  CHECK(client == (drift_client *)0x1);
  CHECK_STR(drift_last_error(), "url must not be NULL");
  CHECK(drift_last_error_status() == DRIFT_STATUS_NULL_ARGUMENT);
  char buf[8];
  size_t n = 0;
  CHECK_OK(drift_last_error_message(buf, sizeof buf, &n));
  CHECK(n == strlen("url must not be NULL"));
  CHECK_STR(buf, "url mus");
  CHECK_STATUS(drift_client_publish(NULL, "t", NULL, 0, NULL, NULL, NULL),
               DRIFT_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(drift_client_new("not a url", NULL, &client),
               DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK(strlen(drift_last_error()) > 0);
  CHECK_STATUS(drift_server_start(NULL, NULL), DRIFT_STATUS_NULL_ARGUMENT);
  CHECK(drift_server_url(NULL) == NULL);
  CHECK(drift_message_kind(NULL) == DRIFT_KIND_NONE);
  CHECK_STATUS(drift_subscription_next(NULL, 0, NULL), DRIFT_STATUS_NULL_ARGUMENT);

  /* A pointer of the wrong type is refused, not used. */
  drift_client_options *opts = drift_client_options_new();
  CHECK_STATUS(drift_server_config_set_h2c((drift_server_config *)(void *)opts, true),
               DRIFT_STATUS_INVALID_ARGUMENT);
  drift_client_options_free(opts);
  /* Double free is refused too. */
  drift_client_options_free(opts);
  CHECK(drift_last_error_status() == DRIFT_STATUS_INVALID_ARGUMENT);

  /* free(NULL) is a no-op for every type. */
  drift_server_config_free(NULL);
  drift_server_free(NULL);
  drift_client_options_free(NULL);
  drift_client_free(NULL);
  drift_subscribe_options_free(NULL);
  drift_subscription_free(NULL);
  drift_message_free(NULL);
  CHECK_STR(drift_gap_reason_str(DRIFT_GAP_REASON_EXPIRED), "expired");
  CHECK_STR(drift_gap_reason_str(DRIFT_GAP_REASON_OTHER), "other");
}

int main(void) {
  test_boundary();

  /* ----- server ----- */
  drift_server_config *cfg = drift_server_config_new();
  CHECK(cfg != NULL);
  CHECK_OK(drift_server_config_set_listen(cfg, "127.0.0.1:0"));
  CHECK_OK(drift_server_config_set_history_length(cfg, 100));
  CHECK_OK(drift_server_config_set_max_message_bytes(cfg, 64 * 1024));
  CHECK_OK(drift_server_config_set_shutdown_grace_ms(cfg, 2000));
  drift_server *server = NULL;
  CHECK_OK(drift_server_start(cfg, &server));
  drift_server_config_free(cfg);
  if (!server) return report("roundtrip");
  uint16_t port = drift_server_port(server);
  CHECK(port != 0);
  char want_url[64];
  snprintf(want_url, sizeof want_url, "https://127.0.0.1:%u", (unsigned)port);
  CHECK_STR(drift_server_url(server), want_url);
  const char *pem = drift_server_ca_cert_pem(server);
  CHECK(pem != NULL && strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0);

  /* ----- client ----- */
  drift_client_options *copts = drift_client_options_new();
  CHECK_OK(drift_client_options_set_ca_pem(copts, pem));
  CHECK_OK(drift_client_options_add_header(copts, "x-test", "roundtrip"));
  drift_client *client = NULL;
  CHECK_OK(drift_client_new(drift_server_url(server), copts, &client));
  drift_client_options_free(copts);
  if (!client) return report("roundtrip");

  uint64_t now = 0;
  CHECK_OK(drift_client_server_time(client, &now));
  CHECK(now > 1600000000u);

  /* A client that does not trust the certificate fails with TLS. */
  drift_client *untrusting = NULL;
  CHECK_OK(drift_client_new(drift_server_url(server), NULL, &untrusting));
  CHECK_STATUS(drift_client_server_time(untrusting, &now), DRIFT_STATUS_TLS);
  drift_client_free(untrusting);

  /* ----- topics ----- */
  bool created = false, exists = true;
  CHECK_OK(drift_client_create(client, "rt", "{\"historyLength\": 50}", &created));
  CHECK(created);
  CHECK_OK(drift_client_create(client, "rt", "{\"historyLength\": 50}", &created));
  CHECK(!created);
  CHECK_STATUS(drift_client_create(client, "rt", "{\"historyLength\": 7}", NULL),
               DRIFT_STATUS_CONFLICT);
  CHECK_STATUS(drift_client_create(client, "x", "{\"histroy\": true}", NULL),
               DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK_OK(drift_client_exists(client, "rt", &exists));
  CHECK(exists);
  CHECK_OK(drift_client_exists(client, "nope", &exists));
  CHECK(!exists);
  CHECK_STATUS(drift_client_delete(client, "nope"), DRIFT_STATUS_NOT_FOUND);
  CHECK_STATUS(drift_client_publish(client, "\xff\xfe", (const uint8_t *)"x", 1,
                                    NULL, NULL, NULL),
               DRIFT_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(drift_client_publish(client, "", (const uint8_t *)"x", 1, NULL, NULL, NULL),
               DRIFT_STATUS_INVALID_ARGUMENT);
  static uint8_t big[100 * 1024];
  CHECK_STATUS(drift_client_publish(client, "rt", big, sizeof big, NULL, NULL, NULL),
               DRIFT_STATUS_TOO_LARGE);

  /* ----- publish, then history: last N ----- */
  uint64_t seq = 0, epoch = 0, first_epoch = 0;
  char text[32];
  for (int i = 1; i <= 5; i++) {
    snprintf(text, sizeof text, "m%d", i);
    publish(client, "rt", text, &seq, &epoch);
    CHECK(seq == (uint64_t)i);
    if (i == 1) first_epoch = epoch;
    CHECK(epoch == first_epoch && epoch != 0);
  }

  drift_subscribe_options *sopts = drift_subscribe_options_new();
  CHECK_OK(drift_subscribe_options_set_last(sopts, 3));
  drift_subscription *sub = NULL;
  CHECK_OK(drift_client_subscribe(client, "rt", sopts, &sub));
  drift_subscribe_options_free(sopts);
  expect_message(sub, "m3", 3, first_epoch);
  expect_message(sub, "m4", 4, first_epoch);
  expect_message(sub, "m5", 5, first_epoch);
  CHECK(drift_subscription_end_reason(sub) == NULL);

  /* Live: published after subscribing. Binary and empty payloads too. */
  publish(client, "rt", "m6", &seq, NULL);
  CHECK(seq == 6);
  expect_message(sub, "m6", 6, first_epoch);
  const uint8_t binary[] = {0, 1, 0, 255};
  CHECK_OK(drift_client_publish(client, "rt", binary, sizeof binary, &seq, NULL, NULL));
  drift_message *msg = NULL;
  CHECK_OK(drift_subscription_next(sub, WAIT_MS, &msg));
  if (msg) {
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(drift_message_payload(msg, &data, &len));
    CHECK(len == sizeof binary && memcmp(data, binary, len) == 0);
    /* A message is not a gap and has no end reason. */
    uint64_t from = 42;
    CHECK_STATUS(drift_message_gap(msg, &from, NULL, NULL), DRIFT_STATUS_INVALID_ARGUMENT);
    CHECK(from == 42);
    CHECK(drift_message_end_reason(msg) == NULL);
    drift_message_free(msg);
  }
  /* The publish answers the time the subscriber sees. */
  uint64_t published_us = 0;
  CHECK_OK(drift_client_publish(client, "rt", NULL, 0, &seq, NULL, &published_us));
  CHECK(seq == 8);
  CHECK(published_us > 0);
  CHECK(expect_message(sub, "", 8, first_epoch) == published_us);

  /* Nothing more: a timeout, and the subscription goes on. */
  msg = NULL;
  CHECK_STATUS(drift_subscription_next(sub, 100, &msg), DRIFT_STATUS_TIMEOUT);
  CHECK(msg == NULL);
  CHECK_STATUS(drift_subscription_next(sub, 0, &msg), DRIFT_STATUS_TIMEOUT);

  /* The last message delivered is m8, whatever came before it. */
  uint64_t last_seq = 0, last_epoch = 0;
  CHECK_OK(drift_subscription_last_id(sub, &last_seq, &last_epoch));
  CHECK(last_seq == 8 && last_epoch == first_epoch);
  CHECK_OK(drift_subscription_last_id(sub, NULL, NULL));
  CHECK_STATUS(drift_subscription_last_id(NULL, &last_seq, NULL),
               DRIFT_STATUS_NULL_ARGUMENT);

  /* ----- several messages in one request ----- */
  drift_subscription *many_sub = NULL;
  CHECK_OK(drift_client_subscribe(client, "many", NULL, &many_sub));
  /* Before its first message a subscription has no id. */
  last_seq = last_epoch = 42;
  CHECK_OK(drift_subscription_last_id(many_sub, &last_seq, &last_epoch));
  CHECK(last_seq == 0 && last_epoch == 0);
  const uint8_t *many[3] = {(const uint8_t *)"p1", (const uint8_t *)"p22", NULL};
  const size_t many_lens[3] = {2, 3, 0};
  uint64_t many_seqs[3] = {0}, many_epochs[3] = {0}, many_times[3] = {0};
  CHECK_OK(drift_client_publish_many(client, "many", many, many_lens, 3, many_seqs,
                                     many_epochs, many_times));
  CHECK(many_seqs[0] == 1 && many_seqs[1] == 2 && many_seqs[2] == 3);
  CHECK(many_epochs[0] != 0 && many_epochs[1] == many_epochs[0] &&
        many_epochs[2] == many_epochs[0]);
  CHECK(many_times[0] > 0 && many_times[1] > 0 && many_times[2] > 0);
  /* Each answered time is the one its subscriber sees. */
  CHECK(expect_message(many_sub, "p1", 1, many_epochs[0]) == many_times[0]);
  CHECK(expect_message(many_sub, "p22", 2, many_epochs[0]) == many_times[1]);
  CHECK(expect_message(many_sub, "", 3, many_epochs[0]) == many_times[2]);
  CHECK_OK(drift_subscription_last_id(many_sub, &last_seq, &last_epoch));
  CHECK(last_seq == 3 && last_epoch == many_epochs[0]);
  /* Nothing to publish is fine; missing arrays are not. */
  CHECK_OK(drift_client_publish_many(client, "many", NULL, NULL, 0, NULL, NULL, NULL));
  CHECK_STATUS(drift_client_publish_many(client, "many", NULL, many_lens, 1, NULL, NULL, NULL),
               DRIFT_STATUS_NULL_ARGUMENT);
  const uint8_t *missing[1] = {NULL};
  CHECK_STATUS(drift_client_publish_many(client, "many", missing, many_lens, 1, NULL, NULL, NULL),
               DRIFT_STATUS_NULL_ARGUMENT);
  CHECK_STR(drift_last_error(), "data[0] must not be NULL");
  drift_subscription_free(many_sub);

  /* ----- resume after an id ----- */
  sopts = drift_subscribe_options_new();
  CHECK_OK(drift_subscribe_options_set_after(sopts, first_epoch, 4));
  drift_subscription *resumed = NULL;
  CHECK_OK(drift_client_subscribe(client, "rt", sopts, &resumed));
  drift_subscribe_options_free(sopts);
  expect_message(resumed, "m5", 5, first_epoch);
  expect_message(resumed, "m6", 6, first_epoch);

  /* ----- a gap: tiny history, resume from an id that has left it ----- */
  CHECK_OK(drift_client_create(client, "tiny", "{\"historyLength\": 2}", NULL));
  uint64_t tiny_epoch = 0;
  for (int i = 1; i <= 5; i++) {
    snprintf(text, sizeof text, "t%d", i);
    publish(client, "tiny", text, &seq, &tiny_epoch);
  }
  sopts = drift_subscribe_options_new();
  CHECK_OK(drift_subscribe_options_set_after(sopts, tiny_epoch, 1));
  drift_subscription *gappy = NULL;
  CHECK_OK(drift_client_subscribe(client, "tiny", sopts, &gappy));
  drift_subscribe_options_free(sopts);
  msg = NULL;
  CHECK_OK(drift_subscription_next(gappy, WAIT_MS, &msg));
  if (msg) {
    CHECK(drift_message_kind(msg) == DRIFT_KIND_GAP);
    uint64_t from = 0, to = 0;
    drift_gap_reason reason = DRIFT_GAP_REASON_NONE;
    CHECK_OK(drift_message_gap(msg, &from, &to, &reason));
    CHECK(from == 2 && to == 3);
    CHECK(reason == DRIFT_GAP_REASON_EXPIRED);
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_STATUS(drift_message_payload(msg, &data, &len), DRIFT_STATUS_INVALID_ARGUMENT);
    CHECK(drift_message_seq(msg) == 0);
    drift_message_free(msg);
  }
  expect_message(gappy, "t4", 4, tiny_epoch);
  expect_message(gappy, "t5", 5, tiny_epoch);
  drift_subscription_free(gappy);

  /* ----- delete: every subscriber sees END "deleted" ----- */
  CHECK_OK(drift_client_delete(client, "rt"));
  expect_end(sub, "deleted");
  /* `resumed` still has m7 and m8 to deliver before its end. */
  expect_seq(resumed, 7);
  expect_seq(resumed, 8);
  expect_end(resumed, "deleted");
  drift_subscription_free(sub);
  drift_subscription_free(resumed);
  CHECK_OK(drift_client_exists(client, "rt", &exists));
  CHECK(!exists);

  /* ----- server stop ends subscriptions with "shutdown" ----- */
  sopts = drift_subscribe_options_new();
  CHECK_OK(drift_subscribe_options_set_resume(sopts, false));
  CHECK_OK(drift_subscribe_options_set_on_slow(sopts, DRIFT_SLOW_POLICY_DROP));
  CHECK_STATUS(drift_subscribe_options_set_on_slow(sopts, 99), DRIFT_STATUS_INVALID_ARGUMENT);
  drift_subscription *last = NULL;
  CHECK_OK(drift_client_subscribe(client, "tiny", sopts, &last));
  drift_subscribe_options_free(sopts);
  CHECK_OK(drift_server_stop(server));
  CHECK_OK(drift_server_stop(server)); /* idempotent */
  msg = NULL;
  drift_status s = drift_subscription_next(last, WAIT_MS, &msg);
  if (s == DRIFT_STATUS_OK && msg) {
    CHECK(drift_message_kind(msg) == DRIFT_KIND_END);
    CHECK_STR(drift_message_end_reason(msg), "shutdown");
    drift_message_free(msg);
  } else {
    FAIL_AT("after stop: %s (%s)", drift_status_str(s), drift_last_error());
  }
  drift_subscription_free(last);

  /* The server is down: requests fail with a connection status. */
  s = drift_client_publish(client, "tiny", (const uint8_t *)"x", 1, NULL, NULL, NULL);
  CHECK(s == DRIFT_STATUS_CONNECT || s == DRIFT_STATUS_UNAVAILABLE);

  drift_client_free(client);
  drift_server_free(server);
  return report("roundtrip");
}
