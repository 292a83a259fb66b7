/*
 * rustflow_abi.h: the part of the FreeSWITCH 1.10/1.11 C API that mod_rustflow calls.
 *
 * Written for this project from the public API documentation and the measured figures in
 * include/abi-facts.jsonl; it is not a copy of the FreeSWITCH headers. It declares exactly
 * what the module uses and nothing more. build.rs binds it only when no real headers are
 * found (FREESWITCH_INCLUDE_DIR, pkg-config freeswitch), and checks every struct and
 * constant mirrored here: against the real headers when present, against the figures
 * otherwise. A new declaration here needs a new line in abi-facts.jsonl.
 *
 * Requires FreeSWITCH >= 1.10.10 (switch_channel_get_variable_strdup).
 */
#ifndef RUSTFLOW_ABI_H
#define RUSTFLOW_ABI_H

#include <stddef.h>
#include <stdint.h>

/* ---- scalar types ---------------------------------------------------------------- */

typedef uintptr_t switch_size_t;
typedef uint32_t switch_module_flag_t;

#define SWITCH_API_VERSION 5

/* Name of the channel variable that lists exported variables (switch_types.h). */
#define SWITCH_EXPORT_VARS_VARIABLE "export_vars"

typedef enum {
	SWITCH_FALSE = 0,
	SWITCH_TRUE = 1
} switch_bool_t;

typedef enum {
	SWITCH_STATUS_SUCCESS = 0,
	SWITCH_STATUS_FALSE = 1,
	SWITCH_STATUS_TIMEOUT = 2,
	SWITCH_STATUS_GENERR = 9,
	SWITCH_STATUS_BREAK = 11,
	SWITCH_STATUS_NOTFOUND = 14,
	SWITCH_STATUS_NOUNLOAD = 16,
	SWITCH_STATUS_XBREAK = 35,
	SWITCH_STATUS_WINBREAK = 730035
} switch_status_t;

typedef enum {
	SWITCH_LOG_DEBUG = 7,
	SWITCH_LOG_INFO = 6,
	SWITCH_LOG_NOTICE = 5,
	SWITCH_LOG_WARNING = 4,
	SWITCH_LOG_ERROR = 3,
	SWITCH_LOG_CRIT = 2,
	SWITCH_LOG_DISABLE = -1,
	SWITCH_LOG_UNINIT = 1000
} switch_log_level_t;

typedef enum {
	SWITCH_CHANNEL_ID_LOG = 0,
	SWITCH_CHANNEL_ID_SESSION = 3
} switch_text_channel_t;

/* switch_core_session_ctl commands; the module only reads the hard log level. */
typedef enum {
	SCSC_LOGLEVEL = 6
} switch_session_ctl_t;

typedef enum {
	CS_NEW = 0,
	CS_EXECUTE = 4,
	CS_HANGUP = 10,
	CS_REPORTING = 11,
	CS_DESTROY = 12,
	CS_NONE = 13
} switch_channel_state_t;

typedef enum {
	SWITCH_RING_READY_NONE = 0,
	SWITCH_RING_READY_RINGING = 1,
	SWITCH_RING_READY_QUEUED = 2
} switch_ring_ready_t;

typedef enum {
	SWITCH_APPLICATION_INTERFACE = 4,
	SWITCH_API_INTERFACE = 5
} switch_module_interface_name_t;

/* Cause codes travel as numbers; the engine's cause table names them. */
typedef enum {
	SWITCH_CAUSE_NONE = 0,
	SWITCH_CAUSE_NORMAL_CLEARING = 16,
	SWITCH_CAUSE_USER_BUSY = 17,
	SWITCH_CAUSE_NO_USER_RESPONSE = 18,
	SWITCH_CAUSE_NO_ANSWER = 19,
	SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE = 41,
	SWITCH_CAUSE_ORIGINATOR_CANCEL = 487
} switch_call_cause_t;

/* ---- opaque handles ---------------------------------------------------------------- */

typedef struct switch_core_session switch_core_session_t;
typedef struct switch_channel switch_channel_t;
typedef struct fspr_pool_t switch_memory_pool_t;
typedef struct switch_loadable_module_interface switch_loadable_module_interface_t;
typedef struct switch_event switch_event_t;
typedef struct switch_file_handle switch_file_handle_t;
typedef struct switch_file_interface switch_file_interface_t;
typedef struct fspr_file_t switch_file_t;
typedef struct switch_buffer switch_buffer_t;
typedef struct switch_audio_resampler_s switch_audio_resampler_t;
typedef struct switch_caller_profile switch_caller_profile_t;
typedef struct switch_state_handler_table switch_state_handler_table_t;
typedef struct switch_dial_handle_s switch_dial_handle_t;
typedef struct switch_console_callback_match switch_console_callback_match_t;
typedef struct switch_frame switch_frame_t;
typedef struct switch_ivr_dmachine switch_ivr_dmachine_t;
typedef struct switch_thread_rwlock switch_thread_rwlock_t;
typedef struct switch_mutex switch_mutex_t;

/* ---- module table ---------------------------------------------------------------- */

typedef switch_status_t (*switch_module_load_t)(switch_loadable_module_interface_t **module_interface,
												switch_memory_pool_t *pool);
typedef switch_status_t (*switch_module_runtime_t)(void);
typedef switch_status_t (*switch_module_shutdown_t)(void);

typedef struct switch_loadable_module_function_table {
	int switch_api_version;
	switch_module_load_t load;
	switch_module_shutdown_t shutdown;
	switch_module_runtime_t runtime;
	switch_module_flag_t flags;
} switch_loadable_module_function_table_t;

/* ---- API output stream ----------------------------------------------------------- */

typedef struct switch_stream_handle switch_stream_handle_t;
typedef uint8_t *(*switch_stream_handle_read_function_t)(switch_stream_handle_t *handle, int *len);
typedef switch_status_t (*switch_stream_handle_write_function_t)(switch_stream_handle_t *handle,
																  const char *fmt, ...);
typedef switch_status_t (*switch_stream_handle_raw_write_function_t)(switch_stream_handle_t *handle,
																	  uint8_t *data, switch_size_t datalen);

struct switch_stream_handle {
	switch_stream_handle_read_function_t read_function;
	switch_stream_handle_write_function_t write_function;
	switch_stream_handle_raw_write_function_t raw_write_function;
	void *data;
	void *end;
	switch_size_t data_size;
	switch_size_t data_len;
	switch_size_t alloc_len;
	switch_size_t alloc_chunk;
	switch_event_t *param_event;
};

/* ---- application and API interfaces --------------------------------------------- */

typedef void (*switch_application_function_t)(switch_core_session_t *session, const char *data);
typedef switch_status_t (*switch_api_function_t)(const char *cmd, switch_core_session_t *session,
												 switch_stream_handle_t *stream);

typedef struct switch_application_interface {
	const char *interface_name;
	switch_application_function_t application_function;
	const char *long_desc;
	const char *short_desc;
	const char *syntax;
	uint32_t flags;
	switch_thread_rwlock_t *rwlock;
	int refs;
	switch_mutex_t *reflock;
	switch_loadable_module_interface_t *parent;
	struct switch_application_interface *next;
} switch_application_interface_t;

typedef struct switch_api_interface {
	const char *interface_name;
	const char *desc;
	switch_api_function_t function;
	const char *syntax;
	switch_thread_rwlock_t *rwlock;
	int refs;
	switch_mutex_t *reflock;
	switch_loadable_module_interface_t *parent;
	struct switch_api_interface *next;
} switch_api_interface_t;

/* Application flags: an enum in switch_types.h, stored in the uint32_t `flags` field. */
typedef enum {
	SAF_NONE = 0,
	SAF_SUPPORT_NOMEDIA = (1 << 0),
	SAF_ROUTING_EXEC = (1 << 1),
	SAF_MEDIA_TAP = (1 << 2),
	SAF_ZOMBIE_EXEC = (1 << 3),
	SAF_NO_LOOPBACK = (1 << 4),
	SAF_SUPPORT_TEXT_ONLY = (1 << 5)
} switch_application_flag_enum_t;
typedef uint32_t switch_application_flag_t;

switch_loadable_module_interface_t *switch_loadable_module_create_module_interface(switch_memory_pool_t *pool,
																				   const char *name);
void *switch_loadable_module_create_interface(switch_loadable_module_interface_t *mod,
											  switch_module_interface_name_t iname);
/* "add rustflow show ID" / "del rustflow": fs_cli tab completion entries. */
switch_status_t switch_console_set_complete(const char *string);

/* ---- configuration (XML registry) ------------------------------------------------ */

typedef struct switch_xml *switch_xml_t;
struct switch_xml {
	char *name;
	char **attr;
	char *txt;
	char *free_path;
	switch_size_t off;
	switch_xml_t next;
	switch_xml_t sibling;
	switch_xml_t ordered;
	switch_xml_t child;
	switch_xml_t parent;
	uint32_t flags;
	switch_bool_t is_switch_xml_root_t;
	uint32_t refs;
	const char *open;
	const char *close;
};

switch_xml_t switch_xml_open_cfg(const char *file_path, switch_xml_t *node, switch_event_t *params);
switch_xml_t switch_xml_child(switch_xml_t xml, const char *name);
const char *switch_xml_attr_soft(switch_xml_t xml, const char *attr);
void switch_xml_free(switch_xml_t xml);

/* ---- logging ----------------------------------------------------------------------- */

/* With SWITCH_CHANNEL_ID_SESSION, `userdata` is the switch_core_session_t pointer itself (as the
 * C macro SWITCH_CHANNEL_SESSION_LOG passes it); the core reads the uuid from the session.
 * With SWITCH_CHANNEL_ID_LOG it is NULL. The module always passes fmt = "%s". */
void switch_log_printf(switch_text_channel_t channel, const char *file, const char *func, int line,
					   const char *userdata, switch_log_level_t level, const char *fmt, ...);

/* SCSC_LOGLEVEL with *val < SWITCH_LOG_DISABLE only reads: *val becomes the hard log level
 * (lines above it, and above the session's own level, are dropped). Returns 0, or -1 while
 * the switch shuts down. */
int32_t switch_core_session_ctl(switch_session_ctl_t cmd, void *val);
switch_log_level_t switch_core_session_get_loglevel(switch_core_session_t *session);

/* ---- sessions, channels, variables ----------------------------------------------- */

switch_channel_t *switch_core_session_get_channel(switch_core_session_t *session);
char *switch_core_session_get_uuid(switch_core_session_t *session);

switch_status_t switch_channel_perform_answer(switch_channel_t *channel, const char *file, const char *func,
											  int line);
switch_status_t switch_channel_perform_pre_answer(switch_channel_t *channel, const char *file, const char *func,
												  int line);
switch_status_t switch_channel_perform_ring_ready_value(switch_channel_t *channel, switch_ring_ready_t rv,
														const char *file, const char *func, int line);
switch_channel_state_t switch_channel_perform_hangup(switch_channel_t *channel, const char *file,
													 const char *func, int line, switch_call_cause_t hangup_cause);

/* Returns a malloc()ed copy (free() it) or NULL; resolves caller-profile names too. */
const char *switch_channel_get_variable_strdup(switch_channel_t *channel, const char *varname);
/* value NULL removes the variable. */
switch_status_t switch_channel_set_variable_var_check(switch_channel_t *channel, const char *varname,
													  const char *value, switch_bool_t var_check);
/* export_varname is SWITCH_EXPORT_VARS_VARIABLE; a "nolocal:" prefix on varname exports without
 * setting it on this channel. */
switch_status_t switch_channel_export_variable_var_check(switch_channel_t *channel, const char *varname,
														 const char *val, const char *export_varname,
														 switch_bool_t var_check);
/* Returns a malloc()ed copy (free() it) or NULL. */
char *switch_core_get_variable_dup(const char *varname);

/* ---- media ------------------------------------------------------------------------- */

typedef enum {
	SWITCH_INPUT_TYPE_DTMF = 0,
	SWITCH_INPUT_TYPE_EVENT = 1
} switch_input_type_t;

typedef switch_status_t (*switch_input_callback_function_t)(switch_core_session_t *session, void *input,
															 switch_input_type_t input_type, void *buf,
															 unsigned int buflen);
typedef switch_status_t (*switch_read_frame_callback_function_t)(switch_core_session_t *session,
																  switch_frame_t *frame, void *user_data);

typedef struct {
	switch_input_callback_function_t input_callback;
	void *buf;
	uint32_t buflen;
	switch_read_frame_callback_function_t read_frame_callback;
	void *user_data;
	switch_ivr_dmachine_t *dmachine;
	int loops;
} switch_input_args_t;

/* fh and args are NULL from the module. */
switch_status_t switch_ivr_play_file(switch_core_session_t *session, switch_file_handle_t *fh, const char *file,
									 switch_input_args_t *args);
switch_status_t switch_ivr_sleep(switch_core_session_t *session, uint32_t ms, switch_bool_t sync,
								 switch_input_args_t *args);

/* Handles signalling queued for this session (a remote BYE, for one) without reading media:
 * softSleep calls it every 20 ms slice so a hangup ends the wait. */
switch_status_t switch_ivr_parse_all_signal_data(switch_core_session_t *session);

/* echo: the caller's audio back to them until hangup (args NULL); delay_echo with a delay. */
switch_status_t switch_ivr_session_echo(switch_core_session_t *session, switch_input_args_t *args);
void switch_ivr_delay_echo(switch_core_session_t *session, uint32_t delay_ms);

/* ---- DTMF ---------------------------------------------------------------------------- */

void switch_channel_flush_dtmf(switch_channel_t *channel);
switch_status_t switch_ivr_inband_dtmf_session(switch_core_session_t *session);
switch_status_t switch_ivr_stop_inband_dtmf_session(switch_core_session_t *session);

/* Plays `audio_file` and collects digits into `var_name` (and digit_buffer). The module passes
 * bad_input_audio_file "silence_stream://250", digits_regex NULL for "any", transfer_on_failure NULL. */
switch_status_t switch_play_and_get_digits(switch_core_session_t *session, uint32_t min_digits, uint32_t max_digits,
										   uint32_t max_tries, uint32_t timeout, const char *valid_terminators,
										   const char *audio_file, const char *bad_input_audio_file,
										   const char *var_name, char *digit_buffer, uint32_t digit_buffer_length,
										   const char *digits_regex, uint32_t digit_timeout,
										   const char *transfer_on_failure);

/* *result is NULL or a string owned by the session (its pool, or a literal ""): copied, never
 * freed by the module. args NULL. */
switch_status_t switch_ivr_play_and_detect_speech(switch_core_session_t *session, const char *file,
												  const char *mod_name, const char *grammar, char **result,
												  uint32_t input_timeout, switch_input_args_t *args);

/* ---- channel state, profile, modules, applications ----------------------------------- */

switch_channel_state_t switch_channel_get_state(switch_channel_t *channel);

/* Channel flags: an enum of switch_types.h; the module only asks about CF_ANSWERED (sipRedirect
 * chooses 302 vs REFER by it). */
typedef enum {
	CF_ANSWERED = 1
} switch_channel_flag_t;
/* Non-zero when the flag is set. */
uint32_t switch_channel_test_flag(switch_channel_t *channel, switch_channel_flag_t flag);
switch_status_t switch_channel_set_profile_var(switch_channel_t *channel, const char *name, const char *val);
/* SWITCH_STATUS_SUCCESS when the module (e.g. "mod_conference") is loaded. */
switch_status_t switch_loadable_module_exists(const char *mod);
/* Runs a dialplan application on the session thread; flags NULL. FreeSWITCH expands ${...} in `arg`
 * unless the channel variable app_disable_expand_variables is true: the module sets it to "true" around
 * each call and restores the previous value afterwards. */
switch_status_t switch_core_session_execute_application_get_flags(switch_core_session_t *session, const char *app,
																  const char *arg, int32_t *flags);

/* ---- events ------------------------------------------------------------------------ */

/* CUSTOM for rustflow::step; CLONE for the originate variables holder (FreeSWITCH adds no
 * Event-* / Core-UUID headers to a CLONE event, so only the flow's variables reach the B-legs). */
typedef enum {
	SWITCH_EVENT_CUSTOM = 0,
	SWITCH_EVENT_CLONE = 1
} switch_event_types_t;

typedef enum {
	SWITCH_STACK_BOTTOM = (1 << 0)
} switch_stack_t;

switch_status_t switch_event_create_subclass_detailed(const char *file, const char *func, int line,
													  switch_event_t **event, switch_event_types_t event_id,
													  const char *subclass_name);
switch_status_t switch_event_add_header_string(switch_event_t *event, switch_stack_t stack, const char *header_name,
											   const char *data);
/* Takes ownership: *event is NULL afterwards. user_data NULL. */
switch_status_t switch_event_fire_detailed(const char *file, const char *func, int line, switch_event_t **event,
										   void *user_data);
void switch_event_destroy(switch_event_t **event);
/* owner "mod_rustflow", subclass "rustflow::step". */
switch_status_t switch_event_reserve_subclass_detailed(const char *owner, const char *subclass_name);
switch_status_t switch_event_free_subclass_detailed(const char *owner, const char *subclass_name);

/* bridge `idle: true`: NULL when no session has var_name == var_val (the module asks for
 * presence_id = EXT@DOMAIN), else a list the module only frees (switch_console_free_matches). */
switch_console_callback_match_t *switch_core_session_findall_matching_var(const char *var_name, const char *var_val);
void switch_console_free_matches(switch_console_callback_match_t **matches);

/* ---- bridge -------------------------------------------------------------------------- */

typedef uint32_t switch_originate_flag_t; /* SOF_NONE = 0 is what the module passes */

/* The module passes: table NULL, cid overrides NULL, caller_profile_override NULL, ovars = an
 * event holding the bridge's global variables, flags 0, cancel_cause NULL, dh NULL. On success
 * *bleg is a read-locked session: release it with switch_core_session_rwunlock. */
switch_status_t switch_ivr_originate(switch_core_session_t *session, switch_core_session_t **bleg,
									 switch_call_cause_t *cause, const char *bridgeto, uint32_t timelimit_sec,
									 const switch_state_handler_table_t *table, const char *cid_name_override,
									 const char *cid_num_override, switch_caller_profile_t *caller_profile_override,
									 switch_event_t *ovars, switch_originate_flag_t flags,
									 switch_call_cause_t *cancel_cause, switch_dial_handle_t *dh);
/* dtmf_callback, session_data and peer_session_data NULL. Blocks until the bridge ends. */
switch_status_t switch_ivr_multi_threaded_bridge(switch_core_session_t *session, switch_core_session_t *peer_session,
												 switch_input_callback_function_t dtmf_callback, void *session_data,
												 void *peer_session_data);
void switch_core_session_rwunlock(switch_core_session_t *session);

/* ---- recording, parking, background audio ---------------------------------------------- */

/* Mirrored in full only because recordFile sets `thresh` and `silence_hits` on a zeroed handle
 * (what mod_dptools' record does); every other field stays zero. The three video fields of
 * switch_mm_t are C enums in switch_types.h: only their 4-byte size matters here. */
typedef uint32_t switch_video_profile_t;
typedef uint32_t switch_video_encode_speed_t;
typedef uint32_t switch_img_fmt_t;

typedef struct switch_mm_s {
	int samplerate;
	int channels;
	int keyint;
	int ab;
	int vb;
	int vw;
	int vh;
	int cbr;
	float fps;
	float source_fps;
	int source_kps;
	int vbuf;
	switch_video_profile_t vprofile;
	switch_video_encode_speed_t vencspd;
	uint8_t try_hardware_encoder;
	int scale_w;
	int scale_h;
	switch_img_fmt_t fmt;
	char *auth_username;
	char *auth_password;
} switch_mm_t;

struct switch_file_handle {
	switch_file_interface_t *file_interface;
	uint32_t flags;
	switch_file_t *fd;
	unsigned int samples;
	uint32_t samplerate;
	uint32_t native_rate;
	uint32_t channels;
	uint32_t real_channels;
	unsigned int format;
	unsigned int sections;
	int seekable;
	switch_size_t sample_count;
	int speed;
	switch_memory_pool_t *memory_pool;
	uint32_t prebuf;
	uint32_t interval;
	void *private_info;
	char *handler;
	int64_t pos;
	switch_buffer_t *audio_buffer;
	switch_buffer_t *sp_audio_buffer;
	uint32_t thresh;
	uint32_t silence_hits;
	uint32_t offset_pos;
	switch_size_t samples_in;
	switch_size_t samples_out;
	int32_t vol;
	int32_t volgranular;
	switch_audio_resampler_t *resampler;
	switch_buffer_t *buffer;
	uint8_t *dbuf;
	switch_size_t dbuflen;
	switch_buffer_t *pre_buffer;
	unsigned char *pre_buffer_data;
	switch_size_t pre_buffer_datalen;
	const char *file;
	const char *func;
	int line;
	char *file_path;
	char *spool_path;
	const char *prefix;
	int max_samples;
	switch_event_t *params;
	uint32_t cur_channels;
	uint32_t cur_samplerate;
	char *stream_name;
	char *modname;
	switch_mm_t mm;
	switch_mutex_t *flag_mutex;
	int64_t duration;
	int64_t vpos;
	void *muxbuf;
	switch_size_t muxlen;
};

/* fh: a zeroed handle with thresh/silence_hits set; args NULL; limit in seconds (0 = none). */
switch_status_t switch_ivr_record_file(switch_core_session_t *session, switch_file_handle_t *fh, const char *file,
									   switch_input_args_t *args, uint32_t limit);
/* fh NULL. The stop call passes the same path the start call recorded to. */
switch_status_t switch_ivr_record_session(switch_core_session_t *session, const char *file, uint32_t limit,
										  switch_file_handle_t *fh);
switch_status_t switch_ivr_stop_record_session(switch_core_session_t *session, const char *file);
/* flags "m" (mux: mixed under the call's audio) or "mr"; limit 0. */
switch_status_t switch_ivr_displace_session(switch_core_session_t *session, const char *file, uint32_t limit,
											const char *flags);
switch_status_t switch_ivr_stop_displace_session(switch_core_session_t *session, const char *file);

#endif
