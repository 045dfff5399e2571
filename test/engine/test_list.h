/* test_list.h - every engine test, in run order. */
#ifndef CD_TEST_LIST_H
#define CD_TEST_LIST_H

#define CD_TESTS(X)                 \
  /* test_basic.c */                \
  X(hello)                          \
  X(head_echo_headers)              \
  X(request_blocks_reused)          \
  X(methods)                        \
  X(head_method)                    \
  X(http_versions)                  \
  X(eof_body)                       \
  X(no_body_statuses)               \
  X(raw_bytes_no_decoding)          \
  X(user_headers)                   \
  X(empty_header_value)             \
  X(connect_to)                     \
  X(request_target)                 \
  /* test_sending.c */              \
  X(sending_new_and_reused)         \
  X(sending_refused)                \
  /* test_raw.c */                  \
  X(raw_request_and_close)          \
  X(raw_bulk_echo_then_abort)       \
  X(raw_refused)                    \
  /* test_faults.c */              \
  X(fault_data_event)               \
  X(fault_raw_event)                \
  X(fault_every_event)              \
  /* test_idle.c */                \
  X(idle_connections_close_on_time) \
  X(idle_sweep_spares_busy_agent)   \
  X(idle_sweep_per_connection)      \
  X(idle_close_by_server_seen)      \
  X(idle_sweep_spares_reused_connection) \
  /* test_body.c */                 \
  X(big_bodies)                     \
  X(chunked_trailers)               \
  X(early_hints)                    \
  X(header_size_limits)             \
  /* test_landing.c */              \
  X(landing_large_bodies)           \
  X(landing_not_for_small_bodies)   \
  X(landing_refused)                \
  X(landing_abort_mid_body)         \
  /* test_upload.c */               \
  X(echo_length)                    \
  X(echo_chunked_many_writes)       \
  X(echo_delayed_writes)            \
  X(body_wanted_flow)               \
  X(empty_bodies)                   \
  X(many_writes_backlog)            \
  X(answered_before_body_end_keeps_connection) \
  X(answered_before_body_end_gives_up) \
  X(server_closes_while_upload_waits) \
  /* test_pause.c */                \
  X(window_bounds_undrained)        \
  X(pause_resume)                   \
  X(pause_before_data)              \
  X(pause_consumer_keeps_receiving) \
  X(pause_toggle)                   \
  X(pause_then_abort)               \
  /* test_abort.c */                \
  X(abort_immediately)              \
  X(abort_waiting_headers)          \
  X(abort_after_headers)            \
  X(abort_mid_body)                 \
  X(abort_during_upload)            \
  X(abort_after_terminal)           \
  X(abort_twice)                    \
  X(abort_random)                   \
  /* test_errors.c */               \
  X(headers_timeout)                \
  X(body_timeout)                   \
  X(body_timeout_is_idle_time)      \
  X(headers_timeout_not_body)       \
  X(refused)                        \
  X(reset)                          \
  X(https_to_plain)                 \
  X(connect_timeout)                \
  X(error_flags_reused_connection)  \
  X(body_timeout_while_paused)      \
  X(body_timeout_while_consumer_paused) \
  /* test_concurrency.c */          \
  X(many_concurrent)                \
  X(two_envs_two_threads)           \
  X(keepalive_reuse)                \
  X(connection_events)              \
  X(reset_flag)                     \
  X(connection_limit)               \
  X(keepalive_timeout)              \
  X(grow_pool_while_attached)       \
  X(worker_modulo)                  \
  X(submit_and_event_backlog)       \
  X(abort_queued_for_connection)    \
  X(wakeup_latency)                 \
  X(drain_wakes_in_groups)          \
  /* test_timings.c */              \
  X(timings_phases_and_reuse)       \
  X(timings_errors)                 \
  X(timings_aborted)                \
  /* test_lifecycle.c */            \
  X(engine_refcount)                \
  X(worker_cap)                     \
  X(detach_in_flight)               \
  X(config_refcount)                \
  X(config_release_closes_idle)     \
  X(attach_detach_cycles)           \
  X(poll_small_batches)             \
  /* test_decode.c */               \
  X(decode_round_trip)              \
  X(decode_stacked)                 \
  X(decode_header_values)           \
  X(decode_corrupt)                 \
  X(decode_truncated)               \
  X(decode_empty_body)              \
  X(decode_gzip_members)            \
  X(decode_trailing_data)           \
  X(decode_push_pull)               \
  X(decode_bomb)                    \
  /* test_hdr.c */                  \
  X(hdr_exact_counts)               \
  X(hdr_percentile_accuracy)        \
  X(hdr_merge)                      \
  /* test_head.c */                 \
  X(head_facts_connection)          \
  X(head_facts_framing)             \
  X(head_facts_keepalive_hint)      \
  X(head_facts_events)              \
  /* test_errclass.c */             \
  X(errclass_headers_overflow)      \
  X(errclass_bad_chunk)             \
  X(errclass_tls_hostname)          \
  X(errclass_event)                 \
  /* test_load.c */                 \
  X(load_amount_exact)              \
  X(load_templates_status_classes)  \
  X(load_error_kinds)               \
  X(load_refused_ends_at_once)      \
  X(load_duration_and_stop)         \
  X(load_rate_and_correction)       \
  X(load_bad_options)               \
  X(load_two_runs_at_once)          \
  /* test_heap.c */                 \
  X(heap_adapt)                     \
  X(heap_adapt_disabled)            \
  X(heap_adapt_tuned)               \
  /* test_stress.c */               \
  X(stress_rings)

#endif /* CD_TEST_LIST_H */
