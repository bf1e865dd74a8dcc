/* SPDX-License-Identifier: Apache-2.0 */
/* agent.state: "key=value" lines (epoch in hex, seq_reserved, connection), atomically replaced. */
#define IOT_LOG_TAG "agent.state"
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_crypto.h"
#include "iot/plat_file.h"

static enum iot_err save(const struct agent_state *st, uint64_t reserved, uint64_t connection)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "# iot-agent state; written by the agent, do not edit while it runs\n"
                     "version=1\nepoch=%016" PRIx64 "\nseq_reserved=%" PRIu64
                     "\nconnection=%" PRIu64 "\n",
                     st->epoch, reserved, connection);
    return plat_file_write_atomic(st->path, buf, (size_t)n, true);
}

static bool field(const char *text, const char *key, int base, uint64_t *out)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            const char *p = line + klen + 1;
            char *end;
            errno = 0;
            unsigned long long v = strtoull(p, &end, base);
            if (end == p || errno || *p == '-' || (*end != '\n' && *end != 0))
                return false;
            *out = v;
            return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

enum iot_err agent_state_open(struct agent_state *st, const char *dir, uint32_t block)
{
    if (!st || !dir || !*dir)
        return IOT_ERR_INVAL;
    memset(st, 0, sizeof *st);
    st->block = block ? block : AGENT_SEQ_BLOCK;
    if (snprintf(st->path, sizeof st->path, "%s/%s", dir, AGENT_STATE_FILE) >= (int)sizeof st->path)
        return IOT_ERR_INVAL;
    enum iot_err rc = plat_dir_ensure(dir, 0700);
    if (rc != IOT_OK)
        return rc;

    uint8_t *text = NULL;
    size_t len;
    rc = plat_file_read(st->path, 4096, &text, &len);
    if (rc == IOT_ERR_NOT_FOUND) {
        do {
            rc = plat_random(&st->epoch, sizeof st->epoch);
            if (rc != IOT_OK)
                return rc;
        } while (st->epoch == 0);
        st->next_seq = 1;
        st->seq_reserved = 1;
        st->connection = 0;
        rc = save(st, st->seq_reserved, st->connection);
        if (rc == IOT_OK)
            IOT_LOG(IOT_LOG_INFO, "new state in %s: epoch %016" PRIx64, st->path, st->epoch);
        return rc;
    }
    if (rc != IOT_OK) {
        IOT_LOG(IOT_LOG_ERROR, "cannot read %s: %s", st->path, iot_err_str(rc));
        return rc == IOT_ERR_FULL ? IOT_ERR_MALFORMED : rc;
    }
    uint64_t epoch, reserved, conn;
    bool ok = field((const char *)text, "epoch", 16, &epoch) &&
              field((const char *)text, "seq_reserved", 10, &reserved) &&
              field((const char *)text, "connection", 10, &conn) && epoch != 0 && reserved != 0;
    iot_free(text);
    if (!ok) {
        IOT_LOG(IOT_LOG_ERROR,
                "%s is damaged (need epoch, seq_reserved, connection); refusing to start rather than "
                "reuse sequence numbers: move it away to start a new epoch",
                st->path);
        return IOT_ERR_MALFORMED;
    }
    st->epoch = epoch;
    st->next_seq = reserved;
    st->seq_reserved = reserved;
    st->connection = conn;
    IOT_LOG(IOT_LOG_INFO, "state %s: epoch %016" PRIx64 ", next seq %" PRIu64 ", connection %" PRIu64,
            st->path, epoch, reserved, conn);
    return IOT_OK;
}

enum iot_err agent_state_next_seq(struct agent_state *st, uint64_t *seq)
{
    if (st->next_seq >= st->seq_reserved) {
        uint64_t reserved = st->next_seq + st->block;
        enum iot_err rc = save(st, reserved, st->connection);
        if (rc != IOT_OK)
            return rc;
        st->seq_reserved = reserved;
    }
    *seq = st->next_seq++;
    return IOT_OK;
}

enum iot_err agent_state_next_connection(struct agent_state *st, uint64_t *connection)
{
    enum iot_err rc = save(st, st->seq_reserved, st->connection + 1);
    if (rc != IOT_OK)
        return rc;
    *connection = ++st->connection;
    return IOT_OK;
}

enum iot_err agent_state_close(struct agent_state *st)
{
    if (!st->path[0] || st->seq_reserved == st->next_seq)
        return IOT_OK;
    enum iot_err rc = save(st, st->next_seq, st->connection);
    if (rc == IOT_OK)
        st->seq_reserved = st->next_seq;
    return rc;
}
