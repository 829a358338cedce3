/* SPDX-License-Identifier: MIT */
/* flowtest subcommands for the password flows and the Management API (flowtest_password.c). */
#pragma once

/*
 * If the command of this flowtest command line is one of ours (password, mgmt-*), run it and
 * return flowtest's exit status; otherwise return -1 and leave everything as it was.
 */
int flowtest_password_dispatch(int argc, char **argv);
