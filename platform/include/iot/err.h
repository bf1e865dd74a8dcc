/* SPDX-License-Identifier: Apache-2.0 */
/* One error enum for the whole stack. States are not errors; keep them in their own enums. */
#ifndef IOT_ERR_H
#define IOT_ERR_H

enum iot_err {
    IOT_OK = 0,
    IOT_ERR_INVAL,     /**< bad argument or value */
    IOT_ERR_NOMEM,     /**< allocation failed */
    IOT_ERR_AGAIN,     /**< nothing yet; try later */
    IOT_ERR_TIMEOUT,   /**< a deadline passed */
    IOT_ERR_IO,        /**< OS-level I/O failed (errno logged where detected) */
    IOT_ERR_TLS,       /**< TLS / certificate / crypto failure */
    IOT_ERR_CLOSED,    /**< peer or object closed */
    IOT_ERR_MALFORMED, /**< input does not parse or validate */
    IOT_ERR_FULL,      /**< bounded container is full */
    IOT_ERR_NOT_FOUND, /**< no such item */
    IOT_ERR_INTERNAL   /**< a bug or an unexpected library state */
};

/** @brief Static, human-readable name of @p e (never NULL). */
const char *iot_err_str(enum iot_err e);

#endif
