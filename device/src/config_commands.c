/* SPDX-License-Identifier: Apache-2.0 */
/* The [commands], [command.NAME] and [state] sections of agent.conf (see config_commands.h).
 * config.c routes these sections here and wraps the reasons into its file:line messages. */
#include "agent/config_commands.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static const char help_text[] =
    "  [commands]  enabled = false            true: accept signed commands on devices/{id}/commands\n"
    "              public_key_file = PATH     required when enabled: the cloud's command-signing\n"
    "                                         public key (iot-pki's cmd-sign.pub, P-256 PEM)\n"
    "              replay_max = 1000          command ids (and their results) remembered on disk;\n"
    "                                         an unknown id issued at or before the newest one\n"
    "                                         forgotten is refused (REJECTED), never run\n"
    "  [command.NAME]  exec = /ABS/PATH       an allow-listed handler for command NAME; params are\n"
    "                                         passed as environment variables IOT_PARAM_<KEY>\n"
    "              timeout_ms = 10000         the handler's process group is killed after this\n"
    "              max_output = 4096          bytes of stdout and of stderr kept in the result\n"
    "  [state]     desired = true             apply devices/{id}/state/desired, report the result\n";

const char *agent_commands_config_help(void) { return help_text; }

void agent_commands_config_defaults(struct agent_commands_config *c)
{
    memset(c, 0, sizeof *c);
    c->replay_max = 1000;
    c->desired = true;
}

bool agent_cmd_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > AGENT_CMD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

static enum iot_err why_fmt(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum iot_err why_fmt(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return IOT_ERR_INVAL;
}

static enum iot_err parse_bool(const char *v, bool *out, char *why, size_t cap)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1")) {
        *out = true;
        return IOT_OK;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0")) {
        *out = false;
        return IOT_OK;
    }
    return why_fmt(why, cap, "bad boolean '%.40s' (expected true or false)", v);
}

static enum iot_err parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out, char *why,
                              size_t cap)
{
    char *end;
    errno = 0;
    unsigned long long n = (*v >= '0' && *v <= '9') ? strtoull(v, &end, 10) : 0;
    if (!(*v >= '0' && *v <= '9') || *end)
        return why_fmt(why, cap, "bad number '%.40s' (expected a whole number %" PRIu32 "..%" PRIu32
                       ")", v, min, max);
    if (errno == ERANGE || n < min || n > max)
        return why_fmt(why, cap, "%.40s is out of range %" PRIu32 "..%" PRIu32, v, min, max);
    *out = (uint32_t)n;
    return IOT_OK;
}

static enum iot_err copy_path(const char *v, char *dst, size_t cap, char *why, size_t why_cap)
{
    if (!*v)
        return why_fmt(why, why_cap, "must not be empty");
    if (strlen(v) >= cap)
        return why_fmt(why, why_cap, "value too long (max %zu bytes)", cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return IOT_OK;
}

static enum iot_err handler_key(struct agent_commands_config *c, const char *name, const char *key,
                                const char *v, char *why, size_t cap)
{
    if (!agent_cmd_name_valid(name))
        return why_fmt(why, cap, "bad command name '%.40s' (expected [A-Za-z0-9_.-]{1,%d})", name,
                       AGENT_CMD_NAME_MAX);
    if (agent__cmd_builtin_exists(name))
        return why_fmt(why, cap, "'%s' is a built-in command and cannot be replaced", name);
    struct agent_cmd_handler_config *h = NULL;
    for (size_t i = 0; i < c->n_handlers; i++) {
        if (strcmp(c->handlers[i].name, name) == 0)
            h = &c->handlers[i];
    }
    if (!h) {
        if (c->n_handlers == AGENT_CMD_HANDLERS_MAX)
            return why_fmt(why, cap, "too many [command.NAME] sections (max %d)",
                           AGENT_CMD_HANDLERS_MAX);
        h = &c->handlers[c->n_handlers++];
        memset(h, 0, sizeof *h);
        snprintf(h->name, sizeof h->name, "%s", name);
        h->timeout_ms = 10000;
        h->max_output = 4096;
    }
    if (strcmp(key, "exec") == 0) {
        if (v[0] != '/')
            return why_fmt(why, cap, "'%.80s' is not an absolute path", v);
        return copy_path(v, h->exec, sizeof h->exec, why, cap);
    }
    if (strcmp(key, "timeout_ms") == 0)
        return parse_u32(v, 1, 3600000, &h->timeout_ms, why, cap);
    if (strcmp(key, "max_output") == 0)
        return parse_u32(v, 0, 65536, &h->max_output, why, cap);
    return why_fmt(why, cap, "unknown key (known: exec, timeout_ms, max_output)");
}

enum iot_err agent_commands_config_key(struct agent_commands_config *c, const char *section,
                                       const char *key, const char *value, char *why,
                                       size_t why_cap)
{
    if (!c || !section || !key || !value || !why || why_cap == 0)
        return IOT_ERR_INVAL;
    why[0] = 0;
    if (strcmp(section, "commands") == 0) {
        if (strcmp(key, "enabled") == 0)
            return parse_bool(value, &c->enabled, why, why_cap);
        if (strcmp(key, "public_key_file") == 0)
            return copy_path(value, c->public_key_file, sizeof c->public_key_file, why, why_cap);
        if (strcmp(key, "replay_max") == 0)
            return parse_u32(value, 16, 100000, &c->replay_max, why, why_cap);
        return why_fmt(why, why_cap, "unknown key (known: enabled, public_key_file, replay_max)");
    }
    if (strncmp(section, "command.", 8) == 0)
        return handler_key(c, section + 8, key, value, why, why_cap);
    if (strcmp(section, "state") == 0) {
        if (strcmp(key, "desired") == 0)
            return parse_bool(value, &c->desired, why, why_cap);
        return why_fmt(why, why_cap, "unknown key (known: desired)");
    }
    return IOT_ERR_NOT_FOUND;
}

enum iot_err agent_commands_config_finish(const struct agent_commands_config *c, char *where,
                                          size_t where_cap, char *why, size_t why_cap)
{
    if (c->enabled && !c->public_key_file[0]) {
        snprintf(where, where_cap, "[commands] public_key_file");
        return why_fmt(why, why_cap, "required when enabled = true");
    }
    for (size_t i = 0; i < c->n_handlers; i++) {
        if (!c->handlers[i].exec[0]) {
            snprintf(where, where_cap, "[command.%s] exec", c->handlers[i].name);
            return why_fmt(why, why_cap, "required but missing");
        }
    }
    return IOT_OK;
}

const struct agent_cmd_handler_config *
agent_commands_config_handler(const struct agent_commands_config *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n_handlers; i++) {
        if (strcmp(c->handlers[i].name, name) == 0)
            return &c->handlers[i];
    }
    return NULL;
}
