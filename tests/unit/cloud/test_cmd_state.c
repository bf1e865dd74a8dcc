/* SPDX-License-Identifier: Apache-2.0 */
/* cmd_state: every legal transition of the command lifecycle, every illegal one refused, and the
 * mapping of device result statuses to events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmd_state.h"
#include "iot.pb-c.h"

static void test_cmd_state_next_legal_transitions_reach_expected_states(void **state)
{
    (void)state;
    static const struct {
        enum cmd_state from;
        enum cmd_event ev;
        enum cmd_state to;
    } legal[] = {
        {CMD_QUEUED, CMD_EV_ACKED, CMD_SENT},
        {CMD_QUEUED, CMD_EV_DEADLINE, CMD_EXPIRED},
        {CMD_QUEUED, CMD_EV_CANCEL, CMD_CANCELLED},
        {CMD_SENT, CMD_EV_RESULT_OK, CMD_SUCCEEDED},
        {CMD_SENT, CMD_EV_RESULT_FAILED, CMD_FAILED},
        {CMD_SENT, CMD_EV_RESULT_REJECTED, CMD_REJECTED},
        {CMD_SENT, CMD_EV_RESULT_EXPIRED, CMD_EXPIRED},
        {CMD_SENT, CMD_EV_DEADLINE, CMD_EXPIRED},
    };
    for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++) {
        enum cmd_state to = CMD_STATE_COUNT;
        assert_int_equal(cmd_state_next(legal[i].from, legal[i].ev, &to), IOT_OK);
        assert_int_equal(to, legal[i].to);
    }
    /* Everything else is refused, and the out-parameter is left alone. */
    int n_legal = 0;
    for (int s = 0; s < CMD_STATE_COUNT; s++) {
        for (int e = 0; e < CMD_EVENT_COUNT; e++) {
            bool is_legal = false;
            for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++)
                is_legal |= legal[i].from == (enum cmd_state)s && legal[i].ev == (enum cmd_event)e;
            enum cmd_state to = CMD_STATE_COUNT;
            enum iot_err rc = cmd_state_next((enum cmd_state)s, (enum cmd_event)e, &to);
            assert_int_equal(rc, is_legal ? IOT_OK : IOT_ERR_INVAL);
            if (!is_legal)
                assert_int_equal(to, CMD_STATE_COUNT);
            n_legal += is_legal;
        }
    }
    assert_int_equal(n_legal, 8);
}

static void test_cmd_state_next_terminal_states_refuse_everything(void **state)
{
    (void)state;
    enum cmd_state terminal[] = {CMD_SUCCEEDED, CMD_FAILED, CMD_REJECTED, CMD_EXPIRED,
                                 CMD_CANCELLED};
    for (size_t i = 0; i < 5; i++) {
        assert_true(cmd_state_terminal(terminal[i]));
        for (int e = 0; e < CMD_EVENT_COUNT; e++) {
            enum cmd_state to;
            assert_int_equal(cmd_state_next(terminal[i], (enum cmd_event)e, &to), IOT_ERR_INVAL);
        }
    }
    assert_false(cmd_state_terminal(CMD_QUEUED));
    assert_false(cmd_state_terminal(CMD_SENT));
}

static void test_cmd_state_next_cancel_after_delivery_refused(void **state)
{
    (void)state;
    enum cmd_state to;
    assert_int_equal(cmd_state_next(CMD_SENT, CMD_EV_CANCEL, &to), IOT_ERR_INVAL);
    assert_int_equal(cmd_state_next(CMD_QUEUED, CMD_EV_RESULT_OK, &to), IOT_ERR_INVAL);
    assert_int_equal(cmd_state_next(CMD_SENT, CMD_EV_ACKED, &to), IOT_ERR_INVAL);
    assert_int_equal(cmd_state_next(CMD_STATE_COUNT, CMD_EV_ACKED, &to), IOT_ERR_INVAL);
    assert_int_equal(cmd_state_next(CMD_QUEUED, CMD_EVENT_COUNT, &to), IOT_ERR_INVAL);
    assert_int_equal(cmd_state_next(CMD_QUEUED, CMD_EV_ACKED, NULL), IOT_ERR_INVAL);
}

static void test_cmd_event_of_result_maps_every_status(void **state)
{
    (void)state;
    assert_int_equal(cmd_event_of_result(IOT__V1__COMMAND_RESULT__STATUS__OK), CMD_EV_RESULT_OK);
    assert_int_equal(cmd_event_of_result(IOT__V1__COMMAND_RESULT__STATUS__ERROR),
                     CMD_EV_RESULT_FAILED);
    assert_int_equal(cmd_event_of_result(IOT__V1__COMMAND_RESULT__STATUS__UNKNOWN_COMMAND),
                     CMD_EV_RESULT_FAILED);
    assert_int_equal(cmd_event_of_result(IOT__V1__COMMAND_RESULT__STATUS__REJECTED),
                     CMD_EV_RESULT_REJECTED);
    assert_int_equal(cmd_event_of_result(IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE),
                     CMD_EV_RESULT_REJECTED);
    assert_int_equal(cmd_event_of_result(IOT__V1__COMMAND_RESULT__STATUS__EXPIRED),
                     CMD_EV_RESULT_EXPIRED);
    assert_int_equal(cmd_event_of_result(0), CMD_EV_RESULT_FAILED);
    assert_string_equal(cmd_result_status_name(IOT__V1__COMMAND_RESULT__STATUS__BAD_SIGNATURE),
                        "BAD_SIGNATURE");
}

static void test_cmd_state_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < CMD_STATE_COUNT; s++) {
        enum cmd_state back;
        assert_true(cmd_state_parse(cmd_state_name((enum cmd_state)s), &back));
        assert_int_equal(back, s);
    }
    enum cmd_state x;
    assert_false(cmd_state_parse("done", &x));
    assert_string_equal(cmd_state_name(CMD_STATE_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_state_next_legal_transitions_reach_expected_states),
        cmocka_unit_test(test_cmd_state_next_terminal_states_refuse_everything),
        cmocka_unit_test(test_cmd_state_next_cancel_after_delivery_refused),
        cmocka_unit_test(test_cmd_event_of_result_maps_every_status),
        cmocka_unit_test(test_cmd_state_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
