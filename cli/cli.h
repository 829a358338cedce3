/* SPDX-License-Identifier: MIT */
/* logtoctl: shared state of the subcommands. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "context.h"

/* Exit codes, documented in logtoctl(8). */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,     /* the operation failed (message on stderr) */
    CLI_USAGE = 2,    /* bad command line */
    CLI_CONFIG = 3,   /* configuration invalid or unreadable */
    CLI_UNAVAIL = 4,  /* the IdP could not be reached */
    CLI_DENIED = 5,   /* the IdP or a rule said no */
    CLI_NOTFOUND = 6, /* no such user or record */
    CLI_NOROOT = 7,   /* needs root (status: only a partial view without it) */
};

struct cli {
    const char *config_path; /* --config, NULL for the default */
    bool json;               /* --json: machine-readable output on stdout */
    bool debug;              /* --debug */
    bool quiet;
    struct logto_ctx ctx; /* log goes to stderr */
};

struct cli_command {
    const char *name;
    const char *args;    /* usage summary */
    const char *summary; /* one line */
    int (*run)(struct cli *cli, int argc, char **argv);
    bool needs_config; /* load the configuration into cli->ctx.cfg first */
};

/* Each subcommand file defines its entries; logtoctl.c lists them. */
int cli_cmd_version(struct cli *cli, int argc, char **argv);
int cli_cmd_config(struct cli *cli, int argc, char **argv);  /* cmd_config.c */
int cli_cmd_sync(struct cli *cli, int argc, char **argv);    /* cmd_sync.c */
int cli_cmd_publish(struct cli *cli, int argc, char **argv); /* cmd_publish.c */
int cli_cmd_user(struct cli *cli, int argc, char **argv);    /* cmd_user.c */
int cli_cmd_keys(struct cli *cli, int argc, char **argv);    /* cmd_user.c */
int cli_cmd_status(struct cli *cli, int argc, char **argv);  /* cmd_status.c */
int cli_cmd_login(struct cli *cli, int argc, char **argv);   /* cmd_login.c */
int cli_cmd_logout(struct cli *cli, int argc, char **argv);  /* cmd_login.c */
int cli_cmd_token(struct cli *cli, int argc, char **argv);   /* cmd_login.c */
int cli_cmd_cache(struct cli *cli, int argc, char **argv);   /* cmd_cache.c */

/* What `logtoctl token` asks for (each NULL when not given). */
struct cli_token_request {
    const char *user, *resource, *organization, *scope;
};
/* The token flow as root (refresh, rotate, persist, print) for caller invoker, known from the
 * kernel: 0 may name any user, any other UID gets only the Logto user the snapshot gives it.
 * Returns a CLI_* code; the token on stdout, messages on stderr. cmd_login.c */
#include <sys/types.h>
int cli_token_for(struct cli *cli, uid_t invoker, const struct cli_token_request *req);
/* The same for an unprivileged caller, through the root helper's socket (logto-helper(8)):
 * prints what the helper answered and returns its exit code. helper_client.c */
int cli_helper_token(struct cli *cli, const struct cli_token_request *req);

/* Commands that act for a user (login, logout, token, cache clear) also log to syslog
 * (LOG_AUTHPRIV, ident logtoctl); stderr shows warnings and errors (everything with --debug).
 * cmd_login.c */
void cli_audit_log(struct cli *cli);
/* Print doc (taken) indented with sorted keys and a newline; 0, or -1 on failure. output.c */
struct json_t;
int cli_print_json(struct json_t *doc);
/* For --json documents: s as a JSON string, or null when s is NULL; v (a NULL-terminated strv, or
 * NULL for none) as an array of strings. NULL when out of memory. output.c */
struct json_t *cli_json_string_or_null(const char *s);
struct json_t *cli_json_strv(char *const *v);
/* Remove user name from the directory snapshot (only the entry with this sub, when sub is not
 * NULL) under the sign-ins' update lock, and their SSH key cache. *ret_changed: the snapshot was
 * rewritten. cmd_cache.c */
int cli_snapshot_forget(const struct logto_ctx *ctx, const char *name, const char *sub,
                        bool *ret_changed, struct logto_error *err);
/* Load the configuration the way the dispatcher does for needs_config commands, for commands
 * that check something first (sync and keys refuse non-root before the secret is touched).
 * Sets cli->ctx.cfg; returns a CLI_* code. The caller frees *ret. */
struct logto_config;
int cli_load_config(struct cli *cli, struct logto_config **ret); /* cmd_sync.c */

/* path made absolute against the working directory (symlinks kept); NULL stays NULL.
 * Returns 0, or -1 when out of memory or the working directory is unknown. */
int cli_absolute_path(const char *path, char **ret);

/* logtoctl config check --online: ask the provider (cfg valid). *ret: a new JSON array of
 * findings {check, result ("ok", "warning", "error", "not checked"), message, file?, line?}.
 * Returns CLI_OK, CLI_FAIL (an error found) or CLI_UNAVAIL (the provider could not be reached).
 * config_online.c */
int cli_config_online(struct cli *cli, const struct logto_config *cfg, struct json_t **ret);

/* Map an error code to a logtoctl exit code. */
int cli_exit_code(int r);

/* Make stdout and stderr pass every byte through the sanitizer of common/text.h (controls
 * other than newline and tab, C1, invalid UTF-8, bidi and other format characters become '?';
 * non-ASCII too when the locale's codeset is neither UTF-8 nor ASCII). 0, or -1 (nothing
 * changed). cli_raw_stderr is the unfiltered stderr, for our own terminal control only
 * (progress lines). output.c */
int cli_output_init(void);
extern FILE *cli_raw_stderr;

/* The home, shell and gecos lines of an identity for people, each with its origin (default, idp
 * or override) and where exactly it came from:
 *   "  shell     /bin/zsh                 override from [user alice] at FILE:LINE". output.c */
struct logto_identity;
void cli_print_passwd_fields(const struct logto_identity *id);
/* The same for --json: {"home": ORIGIN, "shell": ORIGIN, "gecos": ORIGIN}. output.c */
struct json_t *cli_origins_json(const struct logto_identity *id);

/* Print an error for the user ("logtoctl: <message>") and return the exit code for it. */
int cli_fail(struct cli *cli, int r, const struct logto_error *err);
