/*
 * threads.c: many subscriptions from several threads. 32 pull
 * subscriptions are read by 8 pthreads with drift_subscription_next while a
 * publisher thread publishes; every subscriber must see every message, in
 * order, then the end when the topic is deleted. Callback subscriptions
 * receive the same messages on Drift threads; one frees itself from its
 * own callback, and freeing another while its callback runs waits for it.
 * Four threads publishing concurrently on one client get distinct seqs.
 * A pull subscription waiting in drift_subscription_next with no deadline
 * is closed from another thread, which reads its last id meanwhile; a
 * callback subscription is closed from inside its own callback.
 * Prints "threads: N passed, N failed"; exits non-zero on failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define SUBSCRIBERS 32
#define READERS 8
#define MESSAGES 200
#define CALLBACK_SUBS 4
#define PUBLISHERS 4
#define PER_PUBLISHER 50
#define WAIT_MS 10000

static drift_client *client;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ----- pull subscriptions ----- */

struct reader {
  pthread_t thread;
  drift_subscription *subs[SUBSCRIBERS / READERS];
  int received[SUBSCRIBERS / READERS];
  bool ended[SUBSCRIBERS / READERS];
};

/* Checks one message: seq follows the previous one, payload is "msg-SEQ". */
static bool check_message(const drift_message *msg, int expected_seq) {
  char want[32];
  snprintf(want, sizeof want, "msg-%d", expected_seq);
  const uint8_t *data = NULL;
  size_t len = 0;
  if (drift_message_payload(msg, &data, &len) != DRIFT_STATUS_OK) return false;
  return drift_message_seq(msg) == (uint64_t)expected_seq && len == strlen(want) &&
         memcmp(data, want, len) == 0;
}

static void *read_subscriptions(void *arg) {
  struct reader *r = arg;
  const int n = SUBSCRIBERS / READERS;
  int open = n;
  while (open > 0) {
    for (int i = 0; i < n; i++) {
      if (r->ended[i]) continue;
      drift_message *msg = NULL;
      drift_status s = drift_subscription_next(r->subs[i], 20, &msg);
      if (s == DRIFT_STATUS_TIMEOUT) continue;
      if (s != DRIFT_STATUS_OK) {
        FAIL_AT("reader: next returned %s (%s)", drift_status_str(s), drift_last_error());
        r->ended[i] = true;
        open--;
        continue;
      }
      switch (drift_message_kind(msg)) {
        case DRIFT_KIND_MESSAGE:
          r->received[i]++;
          if (!check_message(msg, r->received[i])) {
            FAIL_AT("subscription got seq %llu as message %d",
                    (unsigned long long)drift_message_seq(msg), r->received[i]);
          }
          break;
        case DRIFT_KIND_END:
          CHECK_STR(drift_message_end_reason(msg), "deleted");
          r->ended[i] = true;
          open--;
          break;
        default:
          FAIL_AT("unexpected item of kind %u", (unsigned)drift_message_kind(msg));
      }
      drift_message_free(msg);
    }
  }
  return NULL;
}

static void *publish_messages(void *arg) {
  (void)arg;
  char text[32];
  for (int i = 1; i <= MESSAGES; i++) {
    int len = snprintf(text, sizeof text, "msg-%d", i);
    uint64_t seq = 0;
    CHECK_OK(drift_client_publish(client, "fan", (const uint8_t *)text, (size_t)len,
                                  &seq, NULL, NULL));
    if (seq != (uint64_t)i) FAIL_AT("publish %d got seq %llu", i, (unsigned long long)seq);
  }
  return NULL;
}

/* ----- callback subscriptions ----- */

struct counter {
  atomic_int received;
  atomic_int in_order;
  atomic_int ended;       /* 1 once END "deleted" arrived */
  atomic_int running;     /* a callback is running right now */
  atomic_int after_free;  /* calls that started after free returned */
  atomic_int freed;
  atomic_int sleep_ms;    /* how long each call takes */
  _Atomic(drift_subscription *) self; /* freed from its own callback at END */
};

static void on_message(void *userdata, const drift_message *msg) {
  struct counter *c = userdata;
  if (atomic_load(&c->freed)) atomic_fetch_add(&c->after_free, 1);
  atomic_store(&c->running, 1);
  int nap = atomic_load(&c->sleep_ms);
  if (nap) sleep_ms(nap);
  switch (drift_message_kind(msg)) {
    case DRIFT_KIND_MESSAGE: {
      int n = atomic_fetch_add(&c->received, 1) + 1;
      if (check_message(msg, n)) atomic_fetch_add(&c->in_order, 1);
      break;
    }
    case DRIFT_KIND_END: {
      const char *reason = drift_message_end_reason(msg);
      if (reason && strcmp(reason, "deleted") == 0) atomic_store(&c->ended, 1);
      /* A lent message cannot be freed. */
      drift_message_free((drift_message *)msg);
      drift_subscription *self = atomic_exchange(&c->self, NULL);
      if (self) drift_subscription_free(self); /* from its own callback */
      break;
    }
    default:
      break;
  }
  atomic_store(&c->running, 0);
}

static bool wait_for(atomic_int *value, int want) {
  for (int i = 0; i < WAIT_MS / 10; i++) {
    if (atomic_load(value) >= want) return true;
    sleep_ms(10);
  }
  return false;
}

static void test_concurrent_publishers(void);
static void test_close_from_another_thread(void);
static void test_close_from_its_own_callback(void);

int main(void) {
  drift_server_config *cfg = drift_server_config_new();
  CHECK_OK(drift_server_config_set_h2c(cfg, false));
  CHECK_OK(drift_server_config_set_shutdown_grace_ms(cfg, 2000));
  drift_server *server = NULL;
  CHECK_OK(drift_server_start(cfg, &server));
  drift_server_config_free(cfg);
  if (!server) return report("threads");

  drift_client_options *opts = drift_client_options_new();
  CHECK_OK(drift_client_options_set_ca_pem(opts, drift_server_ca_cert_pem(server)));
  CHECK_OK(drift_client_new(drift_server_url(server), opts, &client));
  drift_client_options_free(opts);
  if (!client) return report("threads");
  CHECK_OK(drift_client_create(client, "fan", NULL, NULL));

  /* Subscribe first (in this thread; each subscription then moves to its
   * reader thread), so that every message is live for everyone. */
  struct reader readers[READERS];
  memset(readers, 0, sizeof readers);
  for (int r = 0; r < READERS; r++)
    for (int i = 0; i < SUBSCRIBERS / READERS; i++)
      CHECK_OK(drift_client_subscribe(client, "fan", NULL, &readers[r].subs[i]));

  static struct counter counters[CALLBACK_SUBS];
  drift_subscription *cb_subs[CALLBACK_SUBS];
  for (int i = 0; i < CALLBACK_SUBS; i++) {
    CHECK_OK(drift_client_subscribe_callback(client, "fan", NULL, on_message,
                                             &counters[i], &cb_subs[i]));
  }
  /* The first callback subscription frees itself at its END. */
  atomic_store(&counters[0].self, cb_subs[0]);
  CHECK_STATUS(drift_client_subscribe_callback(client, "fan", NULL, NULL, NULL, &cb_subs[1]),
               DRIFT_STATUS_NULL_ARGUMENT);
  drift_message *none = NULL;
  CHECK_STATUS(drift_subscription_next(cb_subs[1], 0, &none), DRIFT_STATUS_INVALID_ARGUMENT);

  for (int r = 0; r < READERS; r++)
    pthread_create(&readers[r].thread, NULL, read_subscriptions, &readers[r]);
  pthread_t publisher;
  pthread_create(&publisher, NULL, publish_messages, NULL);
  pthread_join(publisher, NULL);

  for (int i = 0; i < CALLBACK_SUBS; i++) {
    CHECK(wait_for(&counters[i].received, MESSAGES));
  }
  /* Freeing a callback subscription while its callback runs waits for it,
   * and no call starts after free returned. */
  atomic_store(&counters[3].sleep_ms, 200);
  char extra[32];
  int extra_len = snprintf(extra, sizeof extra, "msg-%d", MESSAGES + 1);
  CHECK_OK(drift_client_publish(client, "fan", (const uint8_t *)extra, (size_t)extra_len,
                                NULL, NULL, NULL));
  CHECK(wait_for(&counters[3].running, 1));
  drift_subscription_free(cb_subs[3]);
  atomic_store(&counters[3].freed, 1);
  CHECK(atomic_load(&counters[3].running) == 0);

  /* The end: every subscriber sees "deleted". */
  CHECK_OK(drift_client_delete(client, "fan"));
  for (int r = 0; r < READERS; r++) pthread_join(readers[r].thread, NULL);
  for (int r = 0; r < READERS; r++) {
    for (int i = 0; i < SUBSCRIBERS / READERS; i++) {
      /* MESSAGES plus the one published while testing free. */
      CHECK(readers[r].received[i] == MESSAGES + 1);
      CHECK(readers[r].ended[i]);
      CHECK_STR(drift_subscription_end_reason(readers[r].subs[i]), "deleted");
      drift_subscription_free(readers[r].subs[i]);
    }
  }
  for (int i = 0; i < 3; i++) {
    CHECK(wait_for(&counters[i].ended, 1));
    CHECK(atomic_load(&counters[i].in_order) >= MESSAGES);
  }
  CHECK(atomic_load(&counters[0].self) == NULL); /* it freed itself */
  CHECK(atomic_load(&counters[3].after_free) == 0);
  CHECK(atomic_load(&counters[3].ended) == 0);
  for (int i = 1; i < 3; i++) {
    CHECK_STR(drift_subscription_end_reason(cb_subs[i]), "deleted");
    drift_subscription_free(cb_subs[i]);
  }

  test_concurrent_publishers();
  test_close_from_another_thread();
  test_close_from_its_own_callback();

  drift_client_free(client);
  CHECK_OK(drift_server_stop(server));
  drift_server_free(server);
  /* Give the subscription that freed itself time to finish its thread. */
  sleep_ms(100);
  return report("threads");
}

/* ----- publishers on several threads share one client ----- */

static atomic_int seen[PUBLISHERS * PER_PUBLISHER + 1];

static void *publish_some(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_PUBLISHER; i++) {
    uint64_t seq = 0;
    drift_status s = drift_client_publish(client, "par", (const uint8_t *)"p", 1, &seq, NULL, NULL);
    if (s != DRIFT_STATUS_OK || seq == 0 || seq > PUBLISHERS * PER_PUBLISHER) {
      FAIL_AT("parallel publish: %s seq %llu", drift_status_str(s), (unsigned long long)seq);
      continue;
    }
    atomic_fetch_add(&seen[seq], 1);
  }
  return NULL;
}

static void test_concurrent_publishers(void) {
  pthread_t threads[PUBLISHERS];
  for (int i = 0; i < PUBLISHERS; i++) pthread_create(&threads[i], NULL, publish_some, NULL);
  for (int i = 0; i < PUBLISHERS; i++) pthread_join(threads[i], NULL);
  int distinct = 0;
  for (int s = 1; s <= PUBLISHERS * PER_PUBLISHER; s++) distinct += atomic_load(&seen[s]) == 1;
  CHECK(distinct == PUBLISHERS * PER_PUBLISHER);
}

/* ----- a waiting pull subscription closed from another thread ----- */

struct waiting {
  drift_subscription *sub;
  atomic_int first_done; /* the published message was read */
  atomic_int status;     /* of the wait that the close must end; -1 while waiting */
};

static void *wait_forever(void *arg) {
  struct waiting *w = arg;
  drift_message *msg = NULL;
  if (drift_subscription_next(w->sub, WAIT_MS, &msg) == DRIFT_STATUS_OK) drift_message_free(msg);
  atomic_store(&w->first_done, 1);
  atomic_store(&w->status, (int)drift_subscription_next(w->sub, -1, &msg));
  return NULL;
}

static void test_close_from_another_thread(void) {
  struct waiting w = {.status = -1};
  CHECK_OK(drift_client_subscribe(client, "closing", NULL, &w.sub));
  uint64_t seq = 0;
  CHECK_OK(drift_client_publish(client, "closing", (const uint8_t *)"x", 1, &seq, NULL, NULL));
  pthread_t reader;
  pthread_create(&reader, NULL, wait_forever, &w);
  CHECK(wait_for(&w.first_done, 1));
  /* The reader now waits with no deadline; these do not wait for it. */
  uint64_t last = 0;
  CHECK_OK(drift_subscription_last_id(w.sub, &last, NULL));
  CHECK(last == seq);
  CHECK(drift_subscription_end_reason(w.sub) == NULL);
  CHECK_OK(drift_subscription_close(w.sub));
  /* Bounded, so that a close that does not wake the reader fails here. */
  CHECK(wait_for(&w.status, 0));
  pthread_join(reader, NULL);
  CHECK(atomic_load(&w.status) == DRIFT_STATUS_CLOSED);
  CHECK_STR(drift_subscription_end_reason(w.sub), "closed");
  CHECK_OK(drift_subscription_close(w.sub)); /* again: nothing to do */
  drift_subscription_free(w.sub);
}

/* ----- a callback subscription closed from inside its own callback ----- */

struct stopper {
  _Atomic(drift_subscription *) self;
  atomic_int calls;
};

static void stop_at_first(void *userdata, const drift_message *msg) {
  struct stopper *st = userdata;
  (void)msg;
  atomic_fetch_add(&st->calls, 1);
  CHECK_OK(drift_subscription_close(atomic_load(&st->self)));
}

static void test_close_from_its_own_callback(void) {
  static struct stopper st;
  drift_subscription *sub = NULL;
  CHECK_OK(drift_client_subscribe_callback(client, "stopping", NULL, stop_at_first, &st, &sub));
  atomic_store(&st.self, sub);
  /* A pull subscription to the same topic: once it has a message, the
   * callback subscription has had its chance to see it too. */
  drift_subscription *witness = NULL;
  CHECK_OK(drift_client_subscribe(client, "stopping", NULL, &witness));
  CHECK_OK(drift_client_publish(client, "stopping", (const uint8_t *)"1", 1, NULL, NULL, NULL));
  CHECK(wait_for(&st.calls, 1));
  CHECK_STR(drift_subscription_end_reason(sub), "closed");
  CHECK_OK(drift_client_publish(client, "stopping", (const uint8_t *)"2", 1, NULL, NULL, NULL));
  for (int i = 0; i < 2; i++) {
    drift_message *msg = NULL;
    CHECK_OK(drift_subscription_next(witness, WAIT_MS, &msg));
    drift_message_free(msg);
  }
  /* Free waits for a call still running; one for the second message
   * would have been under way by the time the witness had it. */
  drift_subscription_free(sub);
  CHECK(atomic_load(&st.calls) == 1); /* closed: not called for the second */
  drift_subscription_free(witness);
}
