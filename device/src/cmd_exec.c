/* SPDX-License-Identifier: Apache-2.0 */
/* Configured command handlers: run the allow-listed executable of a [command.NAME] section through
 * plat_proc (own process group, timeout, bounded output), with the command's params as environment
 * variables and nothing else of the agent's environment. Never blocks: the control polls. */
#define IOT_LOG_TAG "agent.exec"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/config_commands.h"
#include "commands.h"
#include "iot/log.h"
#include "iot/mem.h"
#include "iot/plat_proc.h"

/** Most params passed to a handler, and the longest value. */
#define EXEC_PARAMS_MAX 64
#define EXEC_VALUE_MAX 4096u
#define EXEC_FIXED_ENV 5

struct agent_exec_job {
    struct plat_proc *proc;
    uint32_t timeout_ms;
    uint32_t max_output;
    char name[AGENT_CMD_NAME_MAX + 1];
};

void agent_exec_env_name(const char *key, char *out, size_t cap)
{
    static const char prefix[] = "IOT_PARAM_";
    if (cap == 0)
        return;
    size_t n = 0;
    for (const char *k = prefix; *k && n + 1 < cap; k++)
        out[n++] = *k;
    for (const char *k = key; *k && n + 1 < cap; k++) {
        char ch = *k;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
            ch = '_';
        out[n++] = ch;
    }
    out[n] = 0;
}

/* Length of the valid UTF-8 sequence at @p s (of @p n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return c ? 1 : 0;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

void agent_exec_sanitize_text(char *s, size_t len)
{
    unsigned char *u = (unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_len(u + i, len - i);
        if (k == 0) {
            u[i++] = '?';
            continue;
        }
        i += k;
    }
}

static void free_env(char **env, size_t n)
{
    for (size_t i = 0; i < n; i++)
        iot_free(env[i]);
    iot_free(env);
}

static char *env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + 1 + strlen(value) + 1;
    char *e = iot_malloc(n);
    if (e)
        snprintf(e, n, "%s=%s", name, value);
    return e;
}

/* The handler's whole environment: fixed variables, then one per param. Caller frees. */
static enum iot_err make_env(const Iot__V1__Command *cmd, const char *device_id, char ***out,
                             size_t *n_out)
{
    if (cmd->n_params > EXEC_PARAMS_MAX)
        return IOT_ERR_INVAL;
    size_t cap = EXEC_FIXED_ENV + cmd->n_params + 1, n = 0;
    char **env = iot_calloc(cap, sizeof *env);
    if (!env)
        return IOT_ERR_NOMEM;
    const char *fixed[EXEC_FIXED_ENV][2] = {
        {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        {"LANG", "C"},
        {"IOT_DEVICE_ID", device_id},
        {"IOT_COMMAND_ID", cmd->id},
        {"IOT_COMMAND_NAME", cmd->name},
    };
    for (size_t i = 0; i < EXEC_FIXED_ENV; i++) {
        if (!(env[n++] = env_entry(fixed[i][0], fixed[i][1])))
            goto nomem;
    }
    for (size_t i = 0; i < cmd->n_params; i++) {
        const Iot__V1__Command__ParamsEntry *p = cmd->params[i];
        if (!p || !p->key || !p->value)
            continue;
        if (strlen(p->value) > EXEC_VALUE_MAX || strlen(p->key) > 64) {
            free_env(env, n);
            return IOT_ERR_INVAL;
        }
        char name[80];
        agent_exec_env_name(p->key, name, sizeof name);
        size_t nl = strlen(name);
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= strncmp(env[k], name, nl) == 0 && env[k][nl] == '=';
        if (dup) {
            IOT_LOG(IOT_LOG_WARN, "command %s: param '%.64s' maps to %s again; ignored", cmd->id,
                    p->key, name);
            continue;
        }
        if (!(env[n++] = env_entry(name, p->value)))
            goto nomem;
    }
    *out = env;
    *n_out = n;
    return IOT_OK;
nomem:
    free_env(env, n);
    return IOT_ERR_NOMEM;
}

enum iot_err agent_exec_start(const struct agent_cmd_handler_config *h, const Iot__V1__Command *cmd,
                              const char *device_id, struct agent_exec_job **out)
{
    if (!h || !cmd || !cmd->id || !cmd->name || !device_id || !out)
        return IOT_ERR_INVAL;
    struct agent_exec_job *j = iot_calloc(1, sizeof *j);
    if (!j)
        return IOT_ERR_NOMEM;
    j->timeout_ms = h->timeout_ms;
    j->max_output = h->max_output;
    snprintf(j->name, sizeof j->name, "%s", h->name);
    char **env = NULL;
    size_t n_env = 0;
    enum iot_err rc = make_env(cmd, device_id, &env, &n_env);
    if (rc != IOT_OK) {
        iot_free(j);
        return rc;
    }
    char *argv[] = {(char *)h->exec, NULL};
    struct plat_proc_spec spec = {
        .path = h->exec,
        .argv = argv,
        .envp = env,
        .timeout_ms = h->timeout_ms,
        .max_output = h->max_output,
    };
    rc = plat_proc_start(&spec, &j->proc);
    free_env(env, n_env);
    if (rc != IOT_OK) {
        iot_free(j);
        return rc;
    }
    IOT_LOG(IOT_LOG_INFO, "command %s: started %s (timeout %u ms)", cmd->id, h->exec, h->timeout_ms);
    *out = j;
    return IOT_OK;
}

/* Captured text plus a truncation marker when the child wrote more than was kept. */
static char *output_text(char *buf, size_t len, uint64_t total)
{
    agent_exec_sanitize_text(buf, len);
    if (total <= len)
        return buf;
    char marker[96];
    int m = snprintf(marker, sizeof marker, "\n[truncated: %zu of %" PRIu64 " bytes kept]", len,
                     total);
    char *t = iot_realloc(buf, len + (size_t)m + 1);
    if (!t)
        return buf;
    memcpy(t + len, marker, (size_t)m + 1);
    return t;
}

enum iot_err agent_exec_poll(struct agent_exec_job *j, struct agent_cmd_result *r)
{
    if (!j || !r)
        return IOT_ERR_INVAL;
    enum iot_err rc = plat_proc_poll(j->proc, 0);
    if (rc != IOT_OK)
        return rc;
    struct plat_proc_result pr;
    if ((rc = plat_proc_take_result(j->proc, &pr)) != IOT_OK)
        return rc;
    if (pr.timed_out)
        agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__ERROR, -1,
                             "timed out after %u ms", j->timeout_ms);
    else if (pr.term_signal)
        agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__ERROR, 128 + pr.term_signal,
                             "killed by signal %d", pr.term_signal);
    else if (pr.exit_code == 0)
        agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__OK, 0, "exit status 0");
    else
        agent_cmd_result_set(r, IOT__V1__COMMAND_RESULT__STATUS__ERROR, pr.exit_code,
                             "exit status %d", pr.exit_code);
    char *out = output_text(pr.out, pr.out_len, pr.out_total);
    char *err = output_text(pr.err, pr.err_len, pr.err_total);
    pr.out = pr.err = NULL;
    agent_cmd_result_put_take(r, "stdout", out);
    agent_cmd_result_put_take(r, "stderr", err);
    agent_cmd_result_put(r, "duration_ms", "%" PRIu64, pr.duration_ms);
    plat_proc_result_clear(&pr);
    IOT_LOG(IOT_LOG_INFO, "handler %s finished: %s", j->name, r->message);
    return IOT_OK;
}

void agent_exec_destroy(struct agent_exec_job *j)
{
    if (!j)
        return;
    plat_proc_destroy(j->proc);
    iot_free(j);
}
