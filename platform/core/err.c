/* SPDX-License-Identifier: Apache-2.0 */
#include "iot/err.h"

const char *iot_err_str(enum iot_err e)
{
    switch (e) {
    case IOT_OK: return "ok";
    case IOT_ERR_INVAL: return "invalid argument";
    case IOT_ERR_NOMEM: return "out of memory";
    case IOT_ERR_AGAIN: return "try again";
    case IOT_ERR_TIMEOUT: return "timed out";
    case IOT_ERR_IO: return "I/O error";
    case IOT_ERR_TLS: return "TLS or crypto error";
    case IOT_ERR_CLOSED: return "closed";
    case IOT_ERR_MALFORMED: return "malformed";
    case IOT_ERR_FULL: return "full";
    case IOT_ERR_NOT_FOUND: return "not found";
    case IOT_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}
