/* SPDX-License-Identifier: MIT */
/* Name and ID validation. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "names.h"

static bool name_char_ok(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || c == '_')
        return true;
    if (first)
        return false;
    return (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* One pass: this runs for every entry the NSS module returns. "." and ".." fail the first
 * character's rule like every other name that does not start with [a-z_]. */
size_t logto_name_length(const char *name)
{
    size_t i;

    if (!name || !name_char_ok(name[0], true))
        return 0;
    for (i = 1; name[i]; i++)
        if (i >= LOGTO_NAME_MAX || !name_char_ok(name[i], false))
            return 0;
    return i;
}

bool logto_name_valid(const char *name)
{
    return logto_name_length(name) > 0;
}

/* The end of fold and sanitize: 0, or -1 with out emptied and *ret_reason set when reason. */
static int name_result(const char *reason, char *out, size_t outlen, const char **ret_reason)
{
    if (!reason)
        return 0;
    if (outlen)
        out[0] = '\0';
    if (ret_reason)
        *ret_reason = reason;
    return -1;
}

int logto_name_fold(const char *in, char *out, size_t outlen, const char **ret_reason)
{
    const char *reason = NULL;
    size_t len;

    if (!in || !*in)
        reason = "empty";
    else if ((len = strlen(in)) > LOGTO_NAME_MAX)
        reason = "longer than 32 characters";
    else if (len + 1 > outlen)
        reason = "too long";
    else {
        for (size_t i = 0; i <= len; i++) {
            char c = in[i];
            out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        if (!logto_name_valid(out))
            reason = "not a portable name ([a-z_][a-z0-9_.-]*)";
    }
    return name_result(reason, out, outlen, ret_reason);
}

int logto_group_name_sanitize(const char *prefix, const char *in, char *out, size_t outlen,
                              const char **ret_reason)
{
    size_t plen = prefix ? strlen(prefix) : 0, ilen = in ? strlen(in) : 0;
    const char *reason = NULL;

    if (ilen == 0)
        reason = "empty";
    else if (plen + ilen > LOGTO_NAME_MAX || plen + ilen + 1 > outlen)
        reason = "longer than 32 characters";
    else {
        memcpy(out, prefix ? prefix : "", plen);
        for (size_t i = 0; i < ilen; i++) {
            char c = in[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (!name_char_ok(c, false))
                c = '_';
            out[plen + i] = c;
        }
        out[plen + ilen] = '\0';
        if (!logto_name_valid(out))
            reason = "not a portable name after sanitising";
    }
    return name_result(reason, out, outlen, ret_reason);
}

/* The blocks of names.h, in order. */
static const struct {
    uint32_t lo, hi;
} reserved_ids[] = {
    { 0, 999 },
    { 60000, 65535 },
    { 524288, 1879048191 },
    { 2147352576u, 2147418111u },
    { 2147483648u, UINT32_MAX },
};

bool logto_id_range_reserved(uint32_t lo, uint32_t hi)
{
    for (size_t i = 0; i < ELEMENTSOF(reserved_ids); i++)
        if (lo <= reserved_ids[i].hi && reserved_ids[i].lo <= hi)
            return true;
    return false;
}

bool logto_id_reserved(uint32_t id)
{
    return logto_id_range_reserved(id, id);
}

/*
 * Names system accounts and groups use or may one day use on a Debian system, never served even
 * before the package that creates them is installed: its maintainer script ("getent passwd mysql
 * || adduser --system mysql", "adduser --system ... || true") or systemd-sysusers would adopt our
 * entry instead of creating a local one, and chown the service's data to a tenant user.
 *
 * Where the list comes from: the users and groups that Debian 12 packages create dynamically in
 * their maintainer scripts (adduser/addgroup --system, useradd -r) or declare in sysusers.d
 * files, for services that are commonly installed (databases, web, mail, DNS, virtualisation and
 * containers, monitoring, desktop daemons), cross-checked against two distribution registries of
 * well-known system account names: Fedora's setup package (file uidgid) and Gentoo's UID/GID
 * assignment table (api.gentoo.org, files/uid-gid.txt); plus the static users and groups of
 * Debian's base-passwd (also read from /usr/share/base-passwd at run time) and the groups of
 * systemd's and udev's sysusers.d/basic.conf (kvm, render, sgx, input). README.md says how to
 * add site-specific names ([identity] reserved_names). Sorted (bsearch); tests check it.
 */
static const char *const system_names[] = {
    "adm",
    "amavis",
    "apache",
    "asterisk",
    "audio",
    "avahi",
    "avahi-autoipd",
    "backup",
    "bacula",
    "bin",
    "bind",
    "bluetooth",
    "caddy",
    "cassandra",
    "ceph",
    "chrony",
    "clamav",
    "clickhouse",
    "cockpit-ws",
    "cockpit-wsinstance",
    "colord",
    "couchdb",
    "crontab",
    "cups",
    "cups-pk-helper",
    "daemon",
    "dhcpcd",
    "dialout",
    "dip",
    "disk",
    "dnsmasq",
    "docker",
    "dovecot",
    "dovenull",
    "elasticsearch",
    "etcd",
    "exim",
    "fax",
    "floppy",
    "freerad",
    "ftp",
    "fwupd-refresh",
    "games",
    "gdm",
    "geoclue",
    "git",
    "gitea",
    "gitlab",
    "gitlab-runner",
    "gluster",
    "gnats",
    "grafana",
    "haclient",
    "hacluster",
    "haproxy",
    "hplip",
    "i2c",
    "icinga",
    "incus",
    "incus-admin",
    "influxdb",
    "input",
    "irc",
    "jenkins",
    "jetty",
    "kernoops",
    "kibana",
    "kmem",
    "kvm",
    "landscape",
    "libvirt",
    "libvirt-dnsmasq",
    "libvirt-qemu",
    "lightdm",
    "list",
    "logcheck",
    "logstash",
    "lp",
    "lpadmin",
    "lxc-dnsmasq",
    "lxd",
    "mail",
    "mailman",
    "majordom",
    "man",
    "memcache",
    "messagebus",
    "minio",
    "mlocate",
    "mongodb",
    "mosquitto",
    "munin",
    "mysql",
    "nagios",
    "named",
    "netdata",
    "netdev",
    "news",
    "nginx",
    "nm-openconnect",
    "nm-openvpn",
    "nobody",
    "nogroup",
    "nsd",
    "nslcd",
    "ntp",
    "ntpsec",
    "nut",
    "nvpd",
    "opendkim",
    "opendmarc",
    "openldap",
    "openvpn",
    "operator",
    "plocate",
    "plugdev",
    "polkitd",
    "pollinate",
    "postdrop",
    "postfix",
    "postgres",
    "prometheus",
    "proxy",
    "pulse",
    "pulse-access",
    "puppet",
    "qemu",
    "rabbitmq",
    "radicale",
    "radius",
    "radvd",
    "redis",
    "render",
    "rpc",
    "rsyslog",
    "rtkit",
    "sambashare",
    "saned",
    "sanlock",
    "sasl",
    "scanner",
    "sddm",
    "sgx",
    "shadow",
    "smmsp",
    "snmp",
    "speech-dispatcher",
    "squid",
    "src",
    "sshd",
    "ssl-cert",
    "sssd",
    "staff",
    "statd",
    "sudo",
    "swtpm",
    "sync",
    "sys",
    "systemd-journal",
    "tape",
    "tcpdump",
    "telegraf",
    "tomcat",
    "tor",
    "tss",
    "tty",
    "unbound",
    "usbmux",
    "users",
    "utmp",
    "uucp",
    "uuidd",
    "varnish",
    "vboxusers",
    "vcache",
    "video",
    "vlock",
    "vmail",
    "voice",
    "wheel",
    "whoopsie",
    "wireshark",
    "www-data",
    "zabbix",
    "zookeeper",
};

/* Prefixes whole families of system accounts use: "_apt", "_chrony"; "systemd-network";
 * Debian's own "Debian-exim", "debian-tor", "debian-spamd" (we fold to lower case). */
static const char *const system_prefixes[] = { "_", "systemd-", "debian-" };

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *logto_name_system_reason(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < ELEMENTSOF(system_prefixes); i++)
        if (strncmp(name, system_prefixes[i], strlen(system_prefixes[i])) == 0)
            return "starts like the names of system accounts (_, systemd-, debian-)";
    if (strcmp(name, "root") == 0 ||
        bsearch(&name, system_names, ELEMENTSOF(system_names), sizeof(system_names[0]), cmp_name))
        return "is the name of a well-known system account or group";
    return NULL;
}

size_t logto_name_system_list(const char *const **ret)
{
    *ret = system_names;
    return ELEMENTSOF(system_names);
}
