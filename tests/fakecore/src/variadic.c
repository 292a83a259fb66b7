/*
 * The C-variadic halves of the fake core: switch_log_printf and the API stream's
 * write_function. mod_rustflow always passes the format "%s"; these read exactly one string
 * argument for it and hand everything to Rust. Any other format is never expanded (its
 * arguments are unknown); Rust records it as a failure that tests assert never happens.
 */
#include <stdarg.h>
#include <string.h>

void fakecore_log_record(int channel, const char *file, const char *func, int line, const char *userdata,
						 int level, const char *fmt, const char *text);
int fakecore_stream_append(void *handle, const char *fmt, const char *text);

static int is_plain_string_format(const char *fmt)
{
	return fmt != NULL && strcmp(fmt, "%s") == 0;
}

/* Exported as switch_log_printf through a Rust trampoline (a cdylib exports Rust symbols only). */
void fakecore_c_log_printf(int channel, const char *file, const char *func, int line, const char *userdata,
						   int level, const char *fmt, ...)
{
	const char *text = NULL;
	if (is_plain_string_format(fmt)) {
		va_list ap;
		va_start(ap, fmt);
		text = va_arg(ap, const char *);
		va_end(ap);
	}
	fakecore_log_record(channel, file, func, line, userdata, level, fmt, text);
}

int fakecore_c_stream_write(void *handle, const char *fmt, ...)
{
	const char *text = NULL;
	if (is_plain_string_format(fmt)) {
		va_list ap;
		va_start(ap, fmt);
		text = va_arg(ap, const char *);
		va_end(ap);
	}
	return fakecore_stream_append(handle, fmt, text);
}
