/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's control plane: signed commands and desired state. Every SignedCommand is verified
 * (ECDSA P-256 over body, the cloud's key) before anything else; then rejected (other device,
 * expired), de-duplicated against the persisted replay set (an unknown id issued at or before the
 * newest one the set has forgotten is refused), run (built-in, or an allow-listed handler process
 * polled from the loop) and answered with a CommandResult on devices/{id}/responses (QoS 1,
 * echoing MQTT 5 correlation data). Answers and ReportedStates wait in a small queue until
 * PUBACKed and are re-sent after a reconnect. */
#define IOT_LOG_TAG "agent.commands"
#include "commands.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/config_commands.h"
#include "cmd_replay.h"
#include "desired.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "iot/plat_proc.h"

/** Answers / reports waiting for their PUBACK; the oldest is dropped beyond this. */
#define CTL_PENDING_MAX 16
/** Handler processes running at once. */
#define CTL_JOBS_MAX 4
/** How often running handlers' pipes are polled. */
#define CTL_JOB_POLL_MS 20u
/** restart: how long to wait for the answer's PUBACK before restarting anyway. */
#define CTL_RESTART_WAIT_MS 3000u
/** Retry of answers the client library would not take (full). */
#define CTL_RETRY_MS 500u

typedef Iot__V1__CommandResult__Status cmd_status;
#define ST(x) IOT__V1__COMMAND_RESULT__STATUS__##x

struct corr {
    uint8_t data[AGENT_CORRELATION_MAX];
    size_t len;
    bool set;
};

struct pending {
    uint64_t order; /* 0 = free slot; else age */
    uint64_t token; /* of the current attempt (sent) */
    bool sent;
    bool reported;  /* devices/{id}/state/reported, else responses */
    uint8_t *buf;
    size_t len;
    struct corr corr;
};

struct job {
    struct agent_exec_job *exec; /* NULL = free */
    char id[AGENT_CMD_ID_MAX + 1];
    struct corr corr;
};

struct agent_ctl {
    struct agent *a;
    const struct agent_config *cfg;
    const struct plat_clock *clock;
    struct agent_mqtt *mqtt;
    struct plat_verifier *verifier;
    struct agent_replay *replay;
    struct agent_desired *desired;
    char topic_commands[IOT_TOPIC_MAX], topic_responses[IOT_TOPIC_MAX];
    char topic_desired[IOT_TOPIC_MAX], topic_reported[IOT_TOPIC_MAX];
    bool connected;
    struct pending pend[CTL_PENDING_MAX];
    uint64_t next_order, next_token;
    struct job jobs[CTL_JOBS_MAX];
    bool restart_pending;
    uint64_t restart_order, restart_at;
    uint64_t retry_at;
};

/* ---------------------------------------------------------------- results */

void agent_cmd_result_set(struct agent_cmd_result *r, int status, int32_t code, const char *fmt, ...)
{
    r->status = status;
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

enum iot_err agent_cmd_result_put_take(struct agent_cmd_result *r, const char *key, char *value)
{
    if (!value)
        return IOT_ERR_NOMEM;
    if (r->n_outputs == AGENT_CMD_OUTPUTS_MAX) {
        iot_free(value);
        return IOT_ERR_FULL;
    }
    char *k = iot_strdup(key);
    if (!k) {
        iot_free(value);
        return IOT_ERR_NOMEM;
    }
    r->outputs[r->n_outputs].key = k;
    r->outputs[r->n_outputs].value = value;
    r->n_outputs++;
    return IOT_OK;
}

enum iot_err agent_cmd_result_put(struct agent_cmd_result *r, const char *key, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return agent_cmd_result_put_take(r, key, iot_strdup(tmp));
}

void agent_cmd_result_clear(struct agent_cmd_result *r)
{
    for (size_t i = 0; i < r->n_outputs; i++) {
        iot_free(r->outputs[i].key);
        iot_free(r->outputs[i].value);
    }
    memset(r, 0, sizeof *r);
}

const char *agent_cmd_param(const Iot__V1__Command *cmd, const char *key)
{
    for (size_t i = 0; cmd && i < cmd->n_params; i++) {
        if (cmd->params[i] && cmd->params[i]->key && strcmp(cmd->params[i]->key, key) == 0)
            return cmd->params[i]->value;
    }
    return NULL;
}

/* CommandResult bytes; with @p trim the outputs are left out (for the replay set). */
static enum iot_err encode_result(const struct agent_ctl *c, const char *id,
                                  const struct agent_cmd_result *r, bool trim, uint8_t **out,
                                  size_t *out_len)
{
    Iot__V1__CommandResult cr = IOT__V1__COMMAND_RESULT__INIT;
    Iot__V1__CommandResult__OutputsEntry ent[AGENT_CMD_OUTPUTS_MAX];
    Iot__V1__CommandResult__OutputsEntry *ptr[AGENT_CMD_OUTPUTS_MAX];
    size_t n = 0;
    if (trim) {
        iot__v1__command_result__outputs_entry__init(&ent[0]);
        ent[0].key = "_outputs";
        ent[0].value = "not kept for replays (too large)";
        ptr[n++] = &ent[0];
    } else {
        for (; n < r->n_outputs; n++) {
            iot__v1__command_result__outputs_entry__init(&ent[n]);
            ent[n].key = r->outputs[n].key;
            ent[n].value = r->outputs[n].value;
            ptr[n] = &ent[n];
        }
    }
    cr.command_id = (char *)id;
    cr.status = (cmd_status)r->status;
    cr.code = r->code;
    cr.message = (char *)r->message;
    cr.n_outputs = n;
    cr.outputs = ptr;
    cr.done_ms = plat_clock_wall_ms(c->clock);
    cr.device_id = (char *)c->cfg->device_id;
    size_t len = iot__v1__command_result__get_packed_size(&cr);
    uint8_t *buf = iot_malloc(len ? len : 1);
    if (!buf)
        return IOT_ERR_NOMEM;
    iot__v1__command_result__pack(&cr, buf);
    *out = buf;
    *out_len = len;
    return IOT_OK;
}

/* ---------------------------------------------------------------- outgoing queue */

static void pending_free(struct pending *p)
{
    iot_free(p->buf);
    memset(p, 0, sizeof *p);
}

static void flush(struct agent_ctl *c)
{
    for (int k = 0; k < CTL_PENDING_MAX; k++) { /* each round sends one, oldest first */
        struct pending *next = NULL;
        for (size_t i = 0; i < CTL_PENDING_MAX; i++) {
            struct pending *p = &c->pend[i];
            if (p->order && !p->sent && (!next || p->order < next->order))
                next = p;
        }
        if (!next || !c->connected)
            return;
        struct agent_mqtt_pub_props props = {
            .correlation = next->corr.set ? next->corr.data : NULL,
            .correlation_len = next->corr.len,
        };
        uint64_t token = AGENT_CTL_TOKEN_BIT | ++c->next_token;
        enum iot_err rc = agent_mqtt_publish_props(
            c->mqtt, next->reported ? c->topic_reported : c->topic_responses, next->buf, next->len,
            1, false, next->corr.set ? &props : NULL, token);
        if (rc != IOT_OK) {
            if (rc == IOT_ERR_CLOSED)
                c->connected = false;
            else
                c->retry_at = plat_clock_mono_ms(c->clock) + CTL_RETRY_MS;
            IOT_LOG(IOT_LOG_DEBUG, "answer publish deferred: %s", iot_err_str(rc));
            return;
        }
        next->sent = true;
        next->token = token;
    }
}

/* Queue @p buf (ownership taken) for publishing; returns its order (0 when dropped). */
static uint64_t enqueue(struct agent_ctl *c, bool reported, uint8_t *buf, size_t len,
                        const struct corr *corr)
{
    struct pending *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < CTL_PENDING_MAX; i++) {
        struct pending *p = &c->pend[i];
        if (!p->order) {
            slot = p;
            break;
        }
        if (!oldest || p->order < oldest->order)
            oldest = p;
    }
    if (!slot) {
        IOT_LOG(IOT_LOG_WARN, "answer queue full: the oldest unacknowledged answer is dropped");
        pending_free(oldest);
        slot = oldest;
    }
    slot->order = ++c->next_order;
    slot->reported = reported;
    slot->buf = buf;
    slot->len = len;
    slot->sent = false;
    if (corr)
        slot->corr = *corr;
    flush(c);
    return slot->order;
}

/* Encode and queue a CommandResult; with @p store, also record it in the replay set first. */
static uint64_t answer(struct agent_ctl *c, const char *id, const struct agent_cmd_result *r,
                       const struct corr *corr, bool store)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (encode_result(c, id, r, false, &buf, &len) != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "command %s: cannot encode the result", id);
        return 0;
    }
    if (store) {
        enum iot_err rc;
        if (len <= AGENT_REPLAY_RESULT_MAX) {
            rc = agent_replay_finish(c->replay, id, buf, len);
        } else {
            uint8_t *small = NULL;
            size_t slen = 0;
            rc = encode_result(c, id, r, true, &small, &slen);
            if (rc == IOT_OK)
                rc = agent_replay_finish(c->replay, id, small, slen);
            iot_free(small);
        }
        if (rc != IOT_OK)
            IOT_LOG(IOT_LOG_ERROR, "command %s: result not recorded (%s); a duplicate will be "
                    "answered as interrupted", id, iot_err_str(rc));
    }
    const ProtobufCEnumValue *st =
        protobuf_c_enum_descriptor_get_value(&iot__v1__command_result__status__descriptor, r->status);
    IOT_LOG(IOT_LOG_INFO, "command %s: %s (code %d) %s", id, st ? st->name : "?", (int)r->code,
            r->message);
    return enqueue(c, false, buf, len, corr);
}

static void answer_status(struct agent_ctl *c, const char *id, cmd_status st, const char *msg,
                          const struct corr *corr)
{
    struct agent_cmd_result r = {0};
    agent_cmd_result_set(&r, (int)st, 0, "%s", msg);
    answer(c, id, &r, corr, false);
}

/* ---------------------------------------------------------------- commands */

static bool id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > AGENT_CMD_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (id[i] < 0x21 || id[i] > 0x7e)
            return false;
    }
    return true;
}

/* The id of an unverified body, only to label the BAD_SIGNATURE answer. */
static void unverified_id(const ProtobufCBinaryData *body, char *out, size_t cap)
{
    out[0] = 0;
    Iot__V1__Command *cmd = iot__v1__command__unpack(iot_pb_allocator(), body->len, body->data);
    if (cmd && id_valid(cmd->id))
        snprintf(out, cap, "%s", cmd->id);
    if (cmd)
        iot__v1__command__free_unpacked(cmd, iot_pb_allocator());
}

static struct job *job_find(struct agent_ctl *c, const char *id)
{
    for (size_t i = 0; i < CTL_JOBS_MAX; i++) {
        if (c->jobs[i].exec && strcmp(c->jobs[i].id, id) == 0)
            return &c->jobs[i];
    }
    return NULL;
}

static struct job *job_free_slot(struct agent_ctl *c)
{
    for (size_t i = 0; i < CTL_JOBS_MAX; i++) {
        if (!c->jobs[i].exec)
            return &c->jobs[i];
    }
    return NULL;
}

/* A duplicate of a recorded command: answer from the record, never run it again. */
static void answer_duplicate(struct agent_ctl *c, const char *id, const struct corr *corr)
{
    const uint8_t *res;
    size_t len;
    enum agent_replay_state st = agent_replay_find(c->replay, id, &res, &len);
    if (st == AGENT_REPLAY_RUNNING && job_find(c, id)) {
        IOT_LOG(IOT_LOG_INFO, "command %s delivered again while running: its result follows", id);
        return;
    }
    if (st == AGENT_REPLAY_RUNNING) {
        struct agent_cmd_result r = {0};
        agent_cmd_result_set(&r, ST(ERROR), -1,
                             "interrupted: the agent stopped before the command finished");
        answer(c, id, &r, corr, true);
        return;
    }
    uint8_t *copy = iot_malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, res, len);
    IOT_LOG(IOT_LOG_INFO, "command %s delivered again: answered with the stored result", id);
    enqueue(c, false, copy, len, corr);
}

static void run_builtin(struct agent_ctl *c, const Iot__V1__Command *cmd, const struct corr *corr)
{
    struct agent_cmd_ctx x = {
        .agent = c->a,
        .cmd = cmd,
        .clock = c->clock,
        .desired_version = agent_desired_version(c->desired),
    };
    struct agent_cmd_result r = {0};
    agent__cmd_builtin_run(&x, &r);
    uint64_t order = answer(c, cmd->id, &r, corr, true);
    agent_cmd_result_clear(&r);
    if (x.restart) {
        IOT_LOG(IOT_LOG_INFO, "restart requested by command %s", cmd->id);
        c->restart_pending = true;
        c->restart_order = order;
        c->restart_at = plat_clock_mono_ms(c->clock) + CTL_RESTART_WAIT_MS;
    }
}

static void run_handler(struct agent_ctl *c, const struct agent_cmd_handler_config *h,
                        const Iot__V1__Command *cmd, const struct corr *corr)
{
    struct job *j = job_free_slot(c);
    if (!j) {
        answer_status(c, cmd->id, ST(ERROR), "busy: too many handlers running; try again", corr);
        return;
    }
    if (agent_replay_begin(c->replay, cmd->id, cmd->issued_ms, cmd->expires_ms) != IOT_OK) {
        answer_status(c, cmd->id, ST(ERROR), "cannot record the command id; not executed", corr);
        return;
    }
    enum iot_err rc = agent_exec_start(h, cmd, c->cfg->device_id, &j->exec);
    if (rc != IOT_OK) {
        struct agent_cmd_result r = {0};
        agent_cmd_result_set(&r, ST(ERROR), -1, "cannot start handler %s: %s", h->exec,
                             rc == IOT_ERR_INVAL ? "too many or too long params" : iot_err_str(rc));
        answer(c, cmd->id, &r, corr, true);
        j->exec = NULL;
        return;
    }
    snprintf(j->id, sizeof j->id, "%s", cmd->id);
    j->corr = *corr;
}

/* An unknown id issued at or before the newest command the replay set has forgotten may be one
 * of those forgotten ones, re-delivered (the cloud re-publishes unanswered commands until they
 * expire): running it could run it twice, so it is refused. Returns true when refused. */
static bool issued_before_floor(struct agent_ctl *c, const Iot__V1__Command *cmd,
                                const struct corr *corr)
{
    int64_t floor_ms = agent_replay_floor_ms(c->replay);
    if (floor_ms <= 0 || cmd->issued_ms > floor_ms)
        return false;
    char msg[200];
    snprintf(msg, sizeof msg, "issued at or before a command this agent has forgotten "
             "(replay_max %" PRIu32 "): not run, it may have run already",
             c->cfg->commands.replay_max);
    IOT_LOG(IOT_LOG_WARN, "command %s issued_ms %" PRId64 " <= replay floor %" PRId64
            ": refused, it may be a forgotten command delivered again", cmd->id, cmd->issued_ms,
            floor_ms);
    answer_status(c, cmd->id, ST(REJECTED), msg, corr);
    return true;
}

static void dispatch(struct agent_ctl *c, const Iot__V1__Command *cmd, const struct corr *corr)
{
    if (!id_valid(cmd->id)) {
        answer_status(c, "", ST(REJECTED), "bad command id (1..128 printable characters)", corr);
        return;
    }
    if (!cmd->device_id || strcmp(cmd->device_id, c->cfg->device_id) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "command for device '%.64s', not this one",
                 cmd->device_id ? cmd->device_id : "");
        answer_status(c, cmd->id, ST(REJECTED), msg, corr);
        return;
    }
    if (agent_replay_find(c->replay, cmd->id, NULL, NULL) != AGENT_REPLAY_NONE) {
        answer_duplicate(c, cmd->id, corr);
        return;
    }
    int64_t now = plat_clock_wall_ms(c->clock);
    if (cmd->expires_ms <= 0) {
        answer_status(c, cmd->id, ST(REJECTED), "command has no expiry (expires_ms)", corr);
        return;
    }
    if (cmd->expires_ms < now) {
        char msg[128];
        snprintf(msg, sizeof msg, "expired %" PRId64 " ms ago", now - cmd->expires_ms);
        answer_status(c, cmd->id, ST(EXPIRED), msg, corr);
        return;
    }
    if (issued_before_floor(c, cmd, corr))
        return;
    const char *name = cmd->name ? cmd->name : "";
    if (agent__cmd_builtin_exists(name)) {
        if (agent_replay_begin(c->replay, cmd->id, cmd->issued_ms, cmd->expires_ms) != IOT_OK) {
            answer_status(c, cmd->id, ST(ERROR), "cannot record the command id; not executed",
                          corr);
            return;
        }
        run_builtin(c, cmd, corr);
        return;
    }
    const struct agent_cmd_handler_config *h =
        agent_commands_config_handler(&c->cfg->commands, name);
    if (h) {
        run_handler(c, h, cmd, corr);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "unknown command '%.40s'", name);
    answer_status(c, cmd->id, ST(UNKNOWN_COMMAND), msg, corr);
}

static void on_command(struct agent_ctl *c, const struct agent_mqtt_event *ev)
{
    struct corr corr = {.set = false};
    if (ev->correlation && ev->correlation_len <= AGENT_CORRELATION_MAX) {
        memcpy(corr.data, ev->correlation, ev->correlation_len);
        corr.len = ev->correlation_len;
        corr.set = true;
    }
    if (ev->response_topic && strcmp(ev->response_topic, c->topic_responses) != 0)
        IOT_LOG(IOT_LOG_WARN, "response topic '%.100s' is not ours; answering on %s",
                ev->response_topic, c->topic_responses);
    if (ev->len > IOT_MAX_PAYLOAD) {
        answer_status(c, "", ST(BAD_SIGNATURE), "command too large", &corr);
        return;
    }
    Iot__V1__SignedCommand *sc =
        iot__v1__signed_command__unpack(iot_pb_allocator(), ev->len, ev->payload);
    if (!sc) {
        answer_status(c, "", ST(BAD_SIGNATURE), "not a SignedCommand", &corr);
        return;
    }
    char id[AGENT_CMD_ID_MAX + 1];
    if (!sc->body.data || !sc->signature.data ||
        plat_verifier_verify(c->verifier, sc->body.data, sc->body.len, sc->signature.data,
                             sc->signature.len) != IOT_OK) {
        unverified_id(&sc->body, id, sizeof id);
        IOT_LOG(IOT_LOG_WARN, "command '%s' (key_id '%.40s'): signature does not verify",
                id, sc->key_id ? sc->key_id : "");
        answer_status(c, id, ST(BAD_SIGNATURE), "signature does not verify", &corr);
        iot__v1__signed_command__free_unpacked(sc, iot_pb_allocator());
        return;
    }
    Iot__V1__Command *cmd =
        iot__v1__command__unpack(iot_pb_allocator(), sc->body.len, sc->body.data);
    iot__v1__signed_command__free_unpacked(sc, iot_pb_allocator());
    if (!cmd) {
        answer_status(c, "", ST(BAD_SIGNATURE), "signed body is not a Command", &corr);
        return;
    }
    dispatch(c, cmd, &corr);
    iot__v1__command__free_unpacked(cmd, iot_pb_allocator());
}

/* ---------------------------------------------------------------- desired state */

static void on_desired(struct agent_ctl *c, const struct agent_mqtt_event *ev)
{
    uint8_t *rep = NULL;
    size_t len = 0;
    enum iot_err rc = agent_desired_handle(c->desired, c->a, ev->payload, ev->len, &rep, &len);
    if (rep)
        enqueue(c, true, rep, len, NULL);
    (void)rc; /* logged where detected */
}

/* ---------------------------------------------------------------- agent.c's side */

void agent_ctl_on_message(struct agent_ctl *c, enum iot_topic_kind kind,
                          const struct agent_mqtt_event *ev)
{
    if (!c || !ev)
        return;
    if (kind == IOT_TOPIC_COMMANDS && c->verifier)
        on_command(c, ev);
    else if (kind == IOT_TOPIC_DESIRED && c->cfg->commands.desired)
        on_desired(c, ev);
    else
        IOT_LOG(IOT_LOG_DEBUG, "message on %s ignored (disabled)", ev->topic);
}

void agent_ctl_on_connected(struct agent_ctl *c)
{
    if (!c)
        return;
    c->connected = true;
    /* The session is clean on every connect: subscribe every time. */
    if (c->verifier && agent_mqtt_subscribe(c->mqtt, c->topic_commands, 1) != IOT_OK)
        IOT_LOG(IOT_LOG_WARN, "cannot subscribe to %s", c->topic_commands);
    if (c->cfg->commands.desired && agent_mqtt_subscribe(c->mqtt, c->topic_desired, 1) != IOT_OK)
        IOT_LOG(IOT_LOG_WARN, "cannot subscribe to %s", c->topic_desired);
    flush(c);
}

void agent_ctl_on_lost(struct agent_ctl *c)
{
    if (!c)
        return;
    c->connected = false;
    for (size_t i = 0; i < CTL_PENDING_MAX; i++)
        c->pend[i].sent = false; /* their completions are void; re-sent on the next connect */
}

static void do_restart(struct agent_ctl *c, const char *why)
{
    c->restart_pending = false;
    IOT_LOG(IOT_LOG_INFO, "restarting (%s)", why);
    agent__restart(c->a);
}

void agent_ctl_on_published(struct agent_ctl *c, const struct agent_mqtt_event *ev)
{
    if (!c || !ev)
        return;
    struct pending *p = NULL;
    for (size_t i = 0; i < CTL_PENDING_MAX; i++) {
        if (c->pend[i].order && c->pend[i].sent && c->pend[i].token == ev->token)
            p = &c->pend[i];
    }
    if (!p)
        return; /* stale: voided by a connection loss */
    uint64_t order = p->order;
    if (ev->code < 0) {
        p->sent = false; /* the library gave up (going down): next connection */
        return;
    }
    if (ev->code > 0)
        IOT_LOG(IOT_LOG_WARN, "broker refused the %s: %s", p->reported ? "reported state" : "answer",
                ev->reason);
    pending_free(p);
    if (c->restart_pending && order == c->restart_order)
        do_restart(c, "answer delivered");
}

uint32_t agent_ctl_poll(struct agent_ctl *c, uint64_t now)
{
    if (!c)
        return UINT32_MAX;
    uint64_t wait = UINT32_MAX;
    bool running = false;
    for (size_t i = 0; i < CTL_JOBS_MAX; i++) {
        struct job *j = &c->jobs[i];
        if (!j->exec)
            continue;
        struct agent_cmd_result r = {0};
        if (agent_exec_poll(j->exec, &r) == IOT_OK) {
            answer(c, j->id, &r, &j->corr, true);
            agent_cmd_result_clear(&r);
            agent_exec_destroy(j->exec);
            j->exec = NULL;
        } else {
            running = true;
        }
    }
    if (running)
        wait = CTL_JOB_POLL_MS;
    if (c->restart_pending) {
        if (now >= c->restart_at)
            do_restart(c, "answer not acknowledged in time");
        else if (c->restart_at - now < wait)
            wait = c->restart_at - now;
    }
    bool unsent = false;
    for (size_t i = 0; i < CTL_PENDING_MAX; i++)
        unsent |= c->pend[i].order && !c->pend[i].sent;
    if (unsent && c->connected) {
        if (now >= c->retry_at)
            flush(c);
        if (wait > CTL_RETRY_MS)
            wait = CTL_RETRY_MS;
    }
    return (uint32_t)wait;
}

/* ---------------------------------------------------------------- create / destroy */

static enum iot_err check_handlers(const struct agent_commands_config *cc)
{
    for (size_t i = 0; i < cc->n_handlers; i++) {
        if (!plat_proc_executable(cc->handlers[i].exec)) {
            IOT_LOG(IOT_LOG_ERROR, "[command.%s] exec %s: not an executable file",
                    cc->handlers[i].name, cc->handlers[i].exec);
            return IOT_ERR_NOT_FOUND;
        }
    }
    return IOT_OK;
}

enum iot_err agent_ctl_create(struct agent *a, const struct plat_clock *clk,
                              struct agent_mqtt *mqtt, struct agent_ctl **out)
{
    if (!a || !clk || !mqtt || !out)
        return IOT_ERR_INVAL;
    struct agent_ctl *c = iot_calloc(1, sizeof *c);
    if (!c)
        return IOT_ERR_NOMEM;
    c->a = a;
    c->cfg = agent__config(a);
    c->clock = clk;
    c->mqtt = mqtt;
    const struct agent_commands_config *cc = &c->cfg->commands;
    const char *id = c->cfg->device_id;
    enum iot_err rc = IOT_ERR_INVAL;
    if (iot_topic_format(c->topic_commands, IOT_TOPIC_MAX, IOT_TOPIC_COMMANDS, id) != IOT_OK ||
        iot_topic_format(c->topic_responses, IOT_TOPIC_MAX, IOT_TOPIC_RESPONSES, id) != IOT_OK ||
        iot_topic_format(c->topic_desired, IOT_TOPIC_MAX, IOT_TOPIC_DESIRED, id) != IOT_OK ||
        iot_topic_format(c->topic_reported, IOT_TOPIC_MAX, IOT_TOPIC_REPORTED, id) != IOT_OK)
        goto fail;
    if (cc->enabled) {
        rc = plat_verifier_load(cc->public_key_file, &c->verifier);
        if (rc == IOT_ERR_NOT_FOUND)
            IOT_LOG(IOT_LOG_ERROR, "[commands] public_key_file %s: no such file or unreadable",
                    cc->public_key_file);
        else if (rc != IOT_OK)
            IOT_LOG(IOT_LOG_ERROR, "[commands] public_key_file %s: not a P-256 public key (PEM)",
                    cc->public_key_file);
        if (rc != IOT_OK)
            goto fail;
        if ((rc = check_handlers(cc)) != IOT_OK)
            goto fail;
        if ((rc = agent_replay_open(c->cfg->state_dir, cc->replay_max, &c->replay)) != IOT_OK)
            goto fail;
    }
    if (cc->desired) {
        if ((rc = agent_desired_open(c->cfg->state_dir, &c->desired)) != IOT_OK)
            goto fail;
        agent_desired_restore(c->desired, a);
    }
    IOT_LOG(IOT_LOG_INFO, "commands %s (%zu handlers, %zu ids remembered); desired state %s",
            cc->enabled ? "enabled" : "disabled", cc->n_handlers, agent_replay_count(c->replay),
            cc->desired ? "applied" : "ignored");
    *out = c;
    return IOT_OK;
fail:
    agent_ctl_destroy(c);
    return rc;
}

void agent_ctl_destroy(struct agent_ctl *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CTL_JOBS_MAX; i++) {
        if (c->jobs[i].exec)
            IOT_LOG(IOT_LOG_WARN, "command %s: handler killed at shutdown", c->jobs[i].id);
        agent_exec_destroy(c->jobs[i].exec);
    }
    for (size_t i = 0; i < CTL_PENDING_MAX; i++)
        pending_free(&c->pend[i]);
    plat_verifier_destroy(c->verifier);
    agent_replay_close(c->replay);
    agent_desired_destroy(c->desired);
    iot_free(c);
}
