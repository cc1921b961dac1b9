/* SPDX-License-Identifier: MIT */
#include "iovirt/error.h"

const char *iovirt_strerror(int err)
{
	switch (err) {
	case IOVIRT_OK:
		return "success";
#define MSG_(name, val, msg)                                                   \
	case IOVIRT_##name:                                                    \
		return msg;
		IOVIRT_ERRORS(MSG_)
#undef MSG_
	}
	return "unknown error";
}

const char *iovirt_err_name(int err)
{
	switch (err) {
	case IOVIRT_OK:
		return "OK";
#define NAME_(name, val, msg)                                                  \
	case IOVIRT_##name:                                                    \
		return #name;
		IOVIRT_ERRORS(NAME_)
#undef NAME_
	}
	return "UNKNOWN";
}
