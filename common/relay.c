/* SPDX-License-Identifier: MIT */
/* Fleets: the signed directory (relay.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zlib.h>

#include "directory.h"
#include "fileio.h"
#include "hash.h"
#include "http.h"
#include "identity.h"
#include "json.h"
#include "localdb.h"
#include "localset.h"
#include "log.h"
#include "memory.h"
#include "owners.h"
#include "relay.h"
#include "relayclaims.h"
#include "snapshot.h"
#include "statefile.h"
#include "sync.h"
#include "util.h"

#define KEY_FILE_MAX    (16 * 1024)
#define SIG_LEN         64
#define SIG_B64_LEN     88
#define STATE_VERSION   1
#define OBJECT_MAX_DEPT 8
#define OBJECT_SUFFIX   ".json.zz"
#define INFLATED_MAX    ((size_t)256 << 20)

/* ------------------------------------------------------------------------------------------ */
/* Keys */

static int key_load(const char *path, bool private_key, EVP_PKEY **ret, struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    BIO *bio;
    EVP_PKEY *key;
    int r = logto_file_read_trusted(path, private_key ? LOGTO_FILE_SECRET : LOGTO_FILE_PUBLIC,
                                    KEY_FILE_MAX, &buf, &len, err);

    if (r < 0)
        return r;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (!bio) {
        logto_erase(buf, len);
        return LOGTO_OOM(err);
    }
    key = private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                      : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    logto_erase(buf, len);
    if (!key || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return logto_error_set(err, LOGTO_E_CONFIG, "%s is not an Ed25519 %s key in PEM", path,
                               private_key ? "private" : "public");
    }
    *ret = key;
    return 0;
}

int logto_relay_key_load_private(const char *path, EVP_PKEY **ret, struct logto_error *err)
{
    return key_load(path, true, ret, err);
}

int logto_relay_key_load_public(const char *path, EVP_PKEY **ret, struct logto_error *err)
{
    return key_load(path, false, ret, err);
}

static void pkey_freep(EVP_PKEY **k)
{
    EVP_PKEY_free(*k);
}

/* ------------------------------------------------------------------------------------------ */
/* Hashes */

static int sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int md_len = 0;

    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(md))
        return -1;
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Compression (zlib format, level 9: no timestamp or name in it, so the same JSON gives the same
 * bytes with the same zlib) */

static int deflate_level(const char *in, size_t len, int level, unsigned char **ret,
                         size_t *ret_len, struct logto_error *err)
{
    uLongf n = compressBound((uLong)len);
    unsigned char *out = malloc(n);

    if (!out)
        return LOGTO_OOM(err);
    if (compress2(out, &n, (const Bytef *)in, (uLong)len, level) != Z_OK) {
        free(out);
        return logto_error_set(err, LOGTO_E_INVAL, "compressing the directory failed");
    }
    *ret = out;
    *ret_len = n;
    return 0;
}

/* What is published: level 9, the same bytes for the same JSON (with the same zlib). */
static int deflate_object(const char *in, size_t len, unsigned char **ret, size_t *ret_len,
                          struct logto_error *err)
{
    return deflate_level(in, len, 9, ret, ret_len, err);
}

/* Inflate one whole zlib stream of at most max bytes, nothing after it (a bomb stops at max). */
static int inflate_object(const unsigned char *in, size_t len, size_t max, char **ret,
                          size_t *ret_len, struct logto_error *err)
{
    z_stream z = { .next_in = (Bytef *)(uintptr_t)in, .avail_in = (uInt)len };
    size_t cap = len * 4 + 4096, used = 0;
    char *out = NULL;
    int zr = Z_OK;

    if (len > UINT32_MAX || inflateInit(&z) != Z_OK)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the published directory is not zlib data");
    while (zr == Z_OK) {
        if (used == cap || !out) {
            char *bigger;
            cap = out ? cap * 2 : cap;
            if (cap > max + 1)
                cap = max + 1;
            bigger = used < cap ? realloc(out, cap + 1) : NULL;
            if (!bigger) {
                inflateEnd(&z);
                free(out);
                if (used >= max)
                    return logto_error_set(err, LOGTO_E_PROTOCOL,
                                           "the published directory inflates to more than %zu "
                                           "bytes",
                                           max);
                return LOGTO_OOM(err);
            }
            out = bigger;
        }
        z.next_out = (Bytef *)out + used;
        z.avail_out = (uInt)(cap - used);
        zr = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
    }
    inflateEnd(&z);
    if (zr != Z_STREAM_END || z.avail_in != 0 || used > max) {
        free(out);
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               zr == Z_STREAM_END ? "the published directory is too large"
                                                  : "the published directory is not valid zlib "
                                                    "data");
    }
    out[used] = '\0';
    *ret = out;
    *ret_len = used;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The manifest */

static json_t *manifest_payload_json(const struct logto_relay_manifest *m)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:s,s:I,s:s}", "format", (json_int_t)m->format,
                          "serial", (json_int_t)m->serial, "generated_at",
                          (json_int_t)m->generated_at, "not_after", (json_int_t)m->not_after,
                          "object", m->object, "size", (json_int_t)m->size, "sha256", m->sha256);

    if (o && m->json_sha256[0] &&
        json_object_set_new(o, "json_sha256", json_string(m->json_sha256)) < 0)
        goto fail;
    if (o && m->has_delta &&
        json_object_set_new(o, "delta",
                            json_pack("{s:s,s:s,s:I,s:s}", "from", m->delta_from, "object",
                                      m->delta_object, "size", (json_int_t)m->delta_size, "sha256",
                                      m->delta_sha256)) < 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* The optional "delta" member of a manifest's payload. */
static int manifest_decode_delta(const json_t *doc, struct logto_relay_manifest *m,
                                 struct logto_error *err)
{
    json_t *d = NULL;
    const char *from = NULL, *object = NULL, *sha = NULL;
    int64_t size = 0;
    int r = logto_json_get_object(doc, "delta", 0, &d, err);

    if (r < 0 || !d)
        return r;
    if ((r = logto_json_get_string(d, "from", LOGTO_JSON_REQUIRED, &from, err)) < 0 ||
        (r = logto_json_get_string(d, "object", LOGTO_JSON_REQUIRED, &object, err)) < 0 ||
        (r = logto_json_get_string(d, "sha256", LOGTO_JSON_REQUIRED, &sha, err)) < 0 ||
        (r = logto_json_get_int(d, "size", LOGTO_JSON_REQUIRED, 1, (int64_t)LOGTO_RELAY_OBJECT_MAX,
                                &size, err)) < 0)
        return logto_error_prefix(err, "the manifest's delta"), r;
    if (!is_hex64(from) || !is_hex64(sha))
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the manifest's delta: from or sha256 is not 64 hex digits");
    memcpy(m->delta_from, from, 65);
    memcpy(m->delta_sha256, sha, 65);
    /* Named by its hash, like the object: nothing else is ever fetched. */
    snprintf(m->delta_object, sizeof(m->delta_object), "%s%s" OBJECT_SUFFIX,
             LOGTO_RELAY_DELTA_PREFIX, m->delta_sha256);
    if (strcmp(object, m->delta_object) != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the manifest's delta is not %s",
                               m->delta_object);
    m->delta_size = (uint64_t)size;
    m->has_delta = true;
    return 0;
}

int logto_relay_manifest_sign(const struct logto_relay_manifest *m, EVP_PKEY *key, char **ret,
                              struct logto_error *err)
{
    _cleanup_json_ json_t *payload = manifest_payload_json(m), *outer = NULL;
    _cleanup_free_ char *text = payload ? logto_json_dump(payload) : NULL;
    unsigned char sig[SIG_LEN];
    char b64[SIG_B64_LEN + 1];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = NULL;
    bool ok;

    if (!text)
        return LOGTO_OOM(err);
    md = EVP_MD_CTX_new();
    ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
         EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)text, strlen(text)) == 1 &&
         sig_len == SIG_LEN;
    EVP_MD_CTX_free(md);
    if (!ok)
        return logto_error_set(err, LOGTO_E_INVAL, "signing the manifest failed");
    EVP_EncodeBlock((unsigned char *)b64, sig, SIG_LEN);
    outer = json_pack("{s:s,s:s}", "signed", text, "signature", b64);
    *ret = outer ? logto_json_dump(outer) : NULL;
    return *ret ? 0 : LOGTO_OOM(err);
}

int logto_relay_manifest_decode(const char *payload, size_t len, struct logto_relay_manifest *ret,
                                struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    struct logto_relay_manifest m = { 0 };
    const char *object = NULL, *sha = NULL, *json_sha = NULL;
    int64_t size = 0;
    int r = logto_json_parse_object(payload, len, LOGTO_RELAY_MANIFEST_MAX, 3, "the manifest", &doc,
                                    err);

    if (r < 0)
        return r;
    if ((r = logto_json_get_int(doc, "format", LOGTO_JSON_REQUIRED, 1, INT32_MAX, &m.format, err)) <
            0 ||
        (r = logto_json_get_int(doc, "serial", LOGTO_JSON_REQUIRED, 1, INT64_MAX, &m.serial, err)) <
            0 ||
        (r = logto_json_get_int(doc, "generated_at", LOGTO_JSON_REQUIRED, 0, INT64_MAX,
                                &m.generated_at, err)) < 0 ||
        (r = logto_json_get_int(doc, "not_after", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &m.not_after,
                                err)) < 0 ||
        (r = logto_json_get_int(doc, "size", LOGTO_JSON_REQUIRED, 1,
                                (int64_t)LOGTO_RELAY_OBJECT_MAX, &size, err)) < 0 ||
        (r = logto_json_get_string(doc, "sha256", LOGTO_JSON_REQUIRED, &sha, err)) < 0 ||
        (r = logto_json_get_string(doc, "object", LOGTO_JSON_REQUIRED, &object, err)) < 0 ||
        (r = logto_json_get_string(doc, "json_sha256", 0, &json_sha, err)) < 0)
        return logto_error_prefix(err, "the manifest"), r;
    if (m.format != LOGTO_RELAY_FORMAT)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the manifest has format %" PRId64 ", this version reads %d",
                               m.format, LOGTO_RELAY_FORMAT);
    if (!is_hex64(sha))
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the manifest's sha256 is not 64 hex digits");
    memcpy(m.sha256, sha, 65);
    /* The object's name is its hash: nothing else is ever fetched. */
    snprintf(m.object, sizeof(m.object), "%s%s" OBJECT_SUFFIX, LOGTO_RELAY_OBJECT_PREFIX, m.sha256);
    if (strcmp(object, m.object) != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "the manifest's object is not %s", m.object);
    m.size = (uint64_t)size;
    if (json_sha && !is_hex64(json_sha))
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the manifest's json_sha256 is not 64 hex digits");
    if (json_sha)
        memcpy(m.json_sha256, json_sha, 65);
    if ((r = manifest_decode_delta(doc, &m, err)) < 0)
        return r;
    if (m.has_delta && !m.json_sha256[0])
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the manifest has a delta but no json_sha256");
    *ret = m;
    return 0;
}

int logto_relay_manifest_verify(const char *buf, size_t len, EVP_PKEY *key,
                                struct logto_relay_manifest *ret, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    const char *text = NULL, *b64 = NULL;
    unsigned char sig[SIG_B64_LEN];
    EVP_MD_CTX *md;
    bool ok;
    int r =
        logto_json_parse_object(buf, len, LOGTO_RELAY_MANIFEST_MAX, 2, "the manifest", &doc, err);

    if (r < 0)
        return r;
    if ((r = logto_json_get_string(doc, "signed", LOGTO_JSON_REQUIRED, &text, err)) < 0 ||
        (r = logto_json_get_string(doc, "signature", LOGTO_JSON_REQUIRED, &b64, err)) < 0)
        return logto_error_prefix(err, "the manifest"), r;
    if (strlen(b64) != SIG_B64_LEN || strcmp(b64 + SIG_B64_LEN - 2, "==") != 0 ||
        EVP_DecodeBlock(sig, (const unsigned char *)b64, SIG_B64_LEN) != SIG_LEN + 2)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the manifest's signature is not a base64 Ed25519 signature");
    md = EVP_MD_CTX_new();
    ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
         EVP_DigestVerify(md, sig, SIG_LEN, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return logto_error_set(err, LOGTO_E_TOKEN,
                               "the manifest's signature does not verify with the pinned key");
    return logto_relay_manifest_decode(text, strlen(text), ret, err);
}

/* ------------------------------------------------------------------------------------------ */
/* The object */

static int set_str(json_t *o, const char *key, const char *s)
{
    return s ? json_object_set_new(o, key, json_string(s)) : 0;
}

static int set_strv(json_t *o, const char *key, char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; a && v && v[i]; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return -1;
        }
    return a ? json_object_set_new(o, key, a) : -1;
}

static json_t *identity_json(const struct logto_identity *id)
{
    json_t *o =
        json_pack("{s:I,s:I,s:b,s:b,s:b,s:b,s:I,s:I}", "uid", (json_int_t)id->uid, "gid",
                  (json_int_t)id->gid, "suspended", id->suspended, "uid_custom", id->uid_custom,
                  "gid_custom", id->gid_custom, "uid_hashed", id->uid_hashed, "uid_probe",
                  (json_int_t)id->uid_probe, "name_rank", (json_int_t)id->name_rank);
    json_t *orgs = json_array();
    bool ok = o && orgs;

    for (size_t i = 0; ok && i < id->n_org_names; i++)
        ok = json_array_append_new(orgs, json_pack("{s:s,s:s}", "id", id->org_names[i].id, "name",
                                                   id->org_names[i].name)) == 0;
    ok = ok && json_object_set_new(o, "org_names", orgs) == 0;
    orgs = NULL;
    ok = ok && set_str(o, "name", id->name) == 0 && set_str(o, "gecos", id->gecos) == 0 &&
         set_str(o, "home", id->home) == 0 && set_str(o, "shell", id->shell) == 0 &&
         set_str(o, "name_from", id->name_from) == 0 && set_str(o, "uid_from", id->uid_from) == 0 &&
         set_str(o, "gid_from", id->gid_from) == 0 &&
         set_str(o, "shell_from", id->shell_from) == 0 &&
         set_str(o, "gecos_from", id->gecos_from) == 0 &&
         set_str(o, "name_claim", id->name_claim) == 0 && set_strv(o, "roles", id->roles) == 0 &&
         set_strv(o, "orgs", id->orgs) == 0 && set_strv(o, "org_roles", id->org_roles) == 0 &&
         set_strv(o, "groups", id->groups) == 0 && set_strv(o, "ssh_keys", id->ssh_keys) == 0;
    json_decref(orgs);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

struct sorted {
    const struct logto_sync_user *users;
    size_t i;
};

static int cmp_sorted(const void *a, const void *b)
{
    const struct sorted *x = a, *y = b;
    return strcmp(x->users[x->i].sub, y->users[y->i].sub);
}

int logto_relay_object_encode(const struct logto_sync_user *users, const bool *refused, size_t n,
                              struct logto_blocked *blocked, char **ret, size_t *ret_len,
                              struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL, *arr = json_array();
    _cleanup_free_ struct sorted *order = calloc(n + 1, sizeof(*order));
    char *text;

    if (!arr || !order)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < n; i++)
        order[i] = (struct sorted){ users, i };
    qsort(order, n, sizeof(*order), cmp_sorted);
    for (size_t k = 0; k < n; k++) {
        const struct logto_sync_user *u = &users[order[k].i];
        json_t *o = refused[order[k].i] || !u->id ? json_object() : identity_json(u->id);
        if (!o || json_object_set_new(o, "sub", json_string(u->sub)) < 0 ||
            set_str(o, "username", u->username) < 0 ||
            set_str(o, "login_email", u->login_email) < 0 ||
            json_object_set_new(o, "created_at", json_integer(u->created_at)) < 0 ||
            ((refused[order[k].i] || !u->id) &&
             json_object_set_new(o, "refused", json_string(u->reason ? u->reason : "refused")) <
                 0) ||
            json_array_append_new(arr, o) < 0)
            return LOGTO_OOM(err);
    }
    doc = json_pack("{s:i,s:O,s:o}", "format", LOGTO_RELAY_FORMAT, "users", arr, "blocked",
                    logto_blocked_to_json(blocked));
    text = doc ? logto_json_dump(doc) : NULL;
    if (!text)
        return LOGTO_OOM(err);
    *ret = text;
    *ret_len = strlen(text);
    return 0;
}

void logto_relay_users_free(struct logto_sync_user *users, size_t n)
{
    for (size_t i = 0; users && i < n; i++) {
        logto_identity_free(users[i].id);
        free((void *)(uintptr_t)users[i].sub);
        free((void *)(uintptr_t)users[i].username);
        free((void *)(uintptr_t)users[i].login_email);
        free((void *)(uintptr_t)users[i].reason);
    }
    free(users);
}

static int dup_str(const json_t *o, const char *key, unsigned flags, char **ret,
                   struct logto_error *err)
{
    const char *s = NULL;
    int r = logto_json_get_string(o, key, flags, &s, err);

    if (r < 0 || !s)
        return r;
    *ret = strdup(s);
    return *ret ? 0 : LOGTO_OOM(err);
}

static int decode_identity(const json_t *o, struct logto_identity **ret, struct logto_error *err)
{
    struct logto_identity *id = calloc(1, sizeof(*id));
    json_t *orgs = NULL;
    int64_t uid = 0, gid = 0, probe = 0, rank = 0;
    int r;

    if (!id)
        return LOGTO_OOM(err);
    if ((r = dup_str(o, "sub", LOGTO_JSON_REQUIRED, &id->sub, err)) < 0 ||
        (r = dup_str(o, "name", LOGTO_JSON_REQUIRED, &id->name, err)) < 0 ||
        (r = dup_str(o, "gecos", 0, &id->gecos, err)) < 0 ||
        (r = dup_str(o, "home", LOGTO_JSON_REQUIRED, &id->home, err)) < 0 ||
        (r = dup_str(o, "shell", LOGTO_JSON_REQUIRED, &id->shell, err)) < 0 ||
        (r = dup_str(o, "name_from", 0, &id->name_from, err)) < 0 ||
        (r = dup_str(o, "uid_from", 0, &id->uid_from, err)) < 0 ||
        (r = dup_str(o, "gid_from", 0, &id->gid_from, err)) < 0 ||
        (r = dup_str(o, "shell_from", 0, &id->shell_from, err)) < 0 ||
        (r = dup_str(o, "gecos_from", 0, &id->gecos_from, err)) < 0 ||
        (r = dup_str(o, "name_claim", 0, &id->name_claim, err)) < 0 ||
        (r = logto_json_get_int(o, "uid", LOGTO_JSON_REQUIRED, 1, UINT32_MAX - 1, &uid, err)) < 0 ||
        (r = logto_json_get_int(o, "gid", LOGTO_JSON_REQUIRED, 1, UINT32_MAX - 1, &gid, err)) < 0 ||
        (r = logto_json_get_int(o, "uid_probe", 0, 0, 1024, &probe, err)) < 0 ||
        (r = logto_json_get_int(o, "name_rank", 0, LOGTO_NAME_EXACT, LOGTO_NAME_EMAIL, &rank,
                                err)) < 0 ||
        (r = logto_json_get_bool(o, "suspended", 0, &id->suspended, err)) < 0 ||
        (r = logto_json_get_bool(o, "uid_custom", 0, &id->uid_custom, err)) < 0 ||
        (r = logto_json_get_bool(o, "gid_custom", 0, &id->gid_custom, err)) < 0 ||
        (r = logto_json_get_bool(o, "uid_hashed", 0, &id->uid_hashed, err)) < 0 ||
        (r = logto_json_get_strv(o, "roles", LOGTO_JSON_REQUIRED, &id->roles, err)) < 0 ||
        (r = logto_json_get_strv(o, "orgs", LOGTO_JSON_REQUIRED, &id->orgs, err)) < 0 ||
        (r = logto_json_get_strv(o, "org_roles", LOGTO_JSON_REQUIRED, &id->org_roles, err)) < 0 ||
        (r = logto_json_get_strv(o, "groups", LOGTO_JSON_REQUIRED, &id->groups, err)) < 0 ||
        (r = logto_json_get_strv(o, "ssh_keys", LOGTO_JSON_REQUIRED, &id->ssh_keys, err)) < 0 ||
        (r = logto_json_get_array(o, "org_names", LOGTO_JSON_REQUIRED, &orgs, err)) < 0)
        goto fail;
    id->uid = (uint32_t)uid;
    id->gid = (uint32_t)gid;
    id->uid_probe = (unsigned)probe;
    id->name_rank = (enum logto_name_rank)rank;
    id->org_names = calloc(json_array_size(orgs) + 1, sizeof(*id->org_names));
    if (!id->org_names) {
        r = LOGTO_OOM(err);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(orgs); i++) {
        json_t *e = json_array_get(orgs, i);
        struct logto_org_name *on = &id->org_names[id->n_org_names++];
        if ((r = dup_str(e, "id", LOGTO_JSON_REQUIRED, &on->id, err)) < 0 ||
            (r = dup_str(e, "name", LOGTO_JSON_REQUIRED, &on->name, err)) < 0)
            goto fail;
    }
    *ret = id;
    return 0;
fail:
    logto_identity_free(id);
    return r;
}

int logto_relay_object_decode(const char *buf, size_t len, struct logto_sync_user **ret_users,
                              size_t *ret_n, struct logto_blocked **ret_blocked,
                              struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_(logto_blocked_freep) struct logto_blocked *blocked = NULL;
    json_t *arr = NULL, *bl = NULL;
    struct logto_sync_user *users = NULL;
    int64_t format = 0;
    size_t n;
    int r = logto_json_parse_object(buf, len, LOGTO_RELAY_OBJECT_MAX, OBJECT_MAX_DEPT,
                                    "the published directory", &doc, err);

    if (r < 0)
        return r;
    if ((r = logto_json_get_int(doc, "format", LOGTO_JSON_REQUIRED, 1, INT32_MAX, &format, err)) <
            0 ||
        (r = logto_json_get_array(doc, "users", LOGTO_JSON_REQUIRED, &arr, err)) < 0 ||
        (r = logto_json_get_object(doc, "blocked", LOGTO_JSON_REQUIRED, &bl, err)) < 0)
        goto fail;
    if (format != LOGTO_RELAY_FORMAT) {
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "the published directory has format %" PRId64,
                            format);
        goto fail;
    }
    if ((r = logto_blocked_from_json(bl, "the blocked list", &blocked, err)) < 0)
        goto fail;
    n = json_array_size(arr);
    users = calloc(n + 1, sizeof(*users));
    if (!users)
        return LOGTO_OOM(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        char *sub = NULL, *username = NULL, *login_email = NULL, *reason = NULL;
        int64_t created = 0;
        if ((r = dup_str(o, "sub", LOGTO_JSON_REQUIRED, &sub, err)) < 0)
            break;
        users[i].sub = sub;
        if ((r = dup_str(o, "username", 0, &username, err)) < 0)
            break;
        users[i].username = username;
        if ((r = dup_str(o, "login_email", 0, &login_email, err)) < 0)
            break;
        users[i].login_email = login_email;
        if ((r = dup_str(o, "refused", 0, &reason, err)) < 0)
            break;
        users[i].reason = reason;
        if ((r = logto_json_get_int(o, "created_at", 0, INT64_MIN, INT64_MAX, &created, err)) < 0)
            break;
        users[i].created_at = created;
        if (!reason && (r = decode_identity(o, &users[i].id, err)) < 0)
            break;
    }
    if (r < 0) {
        logto_relay_users_free(users, n);
        goto fail;
    }
    *ret_users = users;
    *ret_n = n;
    *ret_blocked = TAKE_PTR(blocked);
    return 0;
fail:
    logto_error_prefix(err, "the published directory");
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Deltas */

/* The users array of a canonical document, each entry an object with a string sub, strictly
 * ascending by sub (canonical objects are sorted; anything else makes no delta). */
static int sorted_users(const json_t *doc, const char *key, const char *what, json_t **ret,
                        struct logto_error *err)
{
    bool subs = strcmp(key, "removed") == 0; /* an array of subs, not of entries */
    json_t *arr = NULL;
    const char *prev = NULL;
    int r = logto_json_get_array(doc, key, LOGTO_JSON_REQUIRED, &arr, err);

    if (r < 0)
        return logto_error_prefix(err, "%s", what), r;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        const char *sub =
            subs ? json_string_value(e) : json_string_value(json_object_get(e, "sub"));
        if (!sub || (prev && strcmp(prev, sub) >= 0))
            return logto_error_set(err, LOGTO_E_PROTOCOL, "%s: %s is not sorted by sub", what, key);
        prev = sub;
    }
    *ret = arr;
    return 0;
}

static const char *sub_of(const json_t *e)
{
    return json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "sub"));
}

static int parse_canonical(const char *buf, size_t len, const char *what, json_t **ret_doc,
                           json_t **ret_users, struct logto_error *err)
{
    json_t *doc = NULL, *blocked = NULL;
    int64_t format = 0;
    int r =
        logto_json_parse_object(buf, len, LOGTO_RELAY_OBJECT_MAX, OBJECT_MAX_DEPT, what, &doc, err);

    if (r < 0)
        return r;
    r = logto_json_get_int(doc, "format", LOGTO_JSON_REQUIRED, 1, INT32_MAX, &format, err);
    if (r >= 0 && format != LOGTO_RELAY_FORMAT)
        r = logto_error_set(err, LOGTO_E_PROTOCOL, "%s has format %" PRId64, what, format);
    if (r >= 0)
        r = logto_json_get_object(doc, "blocked", LOGTO_JSON_REQUIRED, &blocked, err);
    if (r >= 0)
        r = sorted_users(doc, "users", what, ret_users, err);
    if (r < 0) {
        json_decref(doc);
        return r;
    }
    *ret_doc = doc;
    return 0;
}

static int dump_canonical(const json_t *doc, char **ret, size_t *ret_len, struct logto_error *err)
{
    char *text = logto_json_dump(doc);

    if (!text)
        return LOGTO_OOM(err);
    *ret = text;
    *ret_len = strlen(text);
    return 0;
}

int logto_relay_delta_make(const char *old, size_t old_len, const char *new_obj, size_t new_len,
                           char **ret, size_t *ret_len, struct logto_error *err)
{
    _cleanup_json_ json_t *od = NULL, *nd = NULL, *delta = NULL;
    json_t *ou = NULL, *nu = NULL, *changed = json_array(), *removed = json_array();
    char from[65];
    size_t i = 0, j = 0;
    int r;

    delta = changed && removed ? json_object() : NULL;
    if (!delta || json_object_set_new(delta, "users", changed) < 0 ||
        json_object_set_new(delta, "removed", removed) < 0) {
        if (!delta) {
            json_decref(changed);
            json_decref(removed);
        }
        return LOGTO_OOM(err);
    }
    if ((r = parse_canonical(old, old_len, "the previous directory", &od, &ou, err)) < 0 ||
        (r = parse_canonical(new_obj, new_len, "the directory", &nd, &nu, err)) < 0)
        return r;
    if (sha256_hex(old, old_len, from) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "SHA-256 failed");
    /* Both are sorted by sub: one merge walk. */
    while (i < json_array_size(ou) || j < json_array_size(nu)) {
        json_t *o = json_array_get(ou, i), *n = json_array_get(nu, j);
        int c = !o ? 1 : !n ? -1 : strcmp(sub_of(o), sub_of(n));
        if (c < 0)
            r = json_array_append_new(removed, json_string(sub_of(o)));
        else if (c > 0 || !json_equal(o, n))
            r = json_array_append(changed, n);
        else
            r = 0;
        if (r < 0)
            return LOGTO_OOM(err);
        i += c <= 0;
        j += c >= 0;
    }
    if (json_object_set_new(delta, "format", json_integer(LOGTO_RELAY_FORMAT)) < 0 ||
        json_object_set_new(delta, "from", json_string(from)) < 0 ||
        json_object_set(delta, "blocked", json_object_get(nd, "blocked")) < 0)
        return LOGTO_OOM(err);
    return dump_canonical(delta, ret, ret_len, err);
}

int logto_relay_delta_apply(const char *old, size_t old_len, const char *delta, size_t delta_len,
                            char **ret, size_t *ret_len, struct logto_error *err)
{
    _cleanup_json_ json_t *od = NULL, *dd = NULL, *out = NULL;
    json_t *ou = NULL, *du = NULL, *removed = NULL, *blocked = NULL, *users = json_array();
    const char *from = NULL;
    char sha[65];
    size_t i = 0, j = 0, k = 0;
    int r;

    out = users ? json_object() : NULL;
    if (!out || json_object_set_new(out, "users", users) < 0) {
        if (!out)
            json_decref(users);
        return LOGTO_OOM(err);
    }
    if ((r = parse_canonical(old, old_len, "the installed directory", &od, &ou, err)) < 0 ||
        (r = parse_canonical(delta, delta_len, "the delta", &dd, &du, err)) < 0)
        return r;
    if ((r = sorted_users(dd, "removed", "the delta", &removed, err)) < 0 ||
        (r = logto_json_get_string(dd, "from", LOGTO_JSON_REQUIRED, &from, err)) < 0 ||
        (r = logto_json_get_object(dd, "blocked", LOGTO_JSON_REQUIRED, &blocked, err)) < 0)
        return logto_error_prefix(err, "the delta"), r;
    if (sha256_hex(old, old_len, sha) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "SHA-256 failed");
    if (strcmp(sha, from) != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the delta applies to another directory than the installed one");
    /* Merge the two sorted lists; an entry of the delta replaces the installed one. */
    while (i < json_array_size(ou) || j < json_array_size(du)) {
        json_t *o = json_array_get(ou, i), *d = json_array_get(du, j);
        int c = !o ? 1 : !d ? -1 : strcmp(sub_of(o), sub_of(d));
        if (c < 0) {
            while (k < json_array_size(removed) &&
                   strcmp(sub_of(json_array_get(removed, k)), sub_of(o)) < 0)
                k++;
            bool gone = k < json_array_size(removed) &&
                        strcmp(sub_of(json_array_get(removed, k)), sub_of(o)) == 0;
            r = gone ? 0 : json_array_append(users, o);
        } else {
            r = json_array_append(users, d);
        }
        if (r < 0)
            return LOGTO_OOM(err);
        i += c <= 0;
        j += c >= 0;
    }
    if (json_object_set_new(out, "format", json_integer(LOGTO_RELAY_FORMAT)) < 0 ||
        json_object_set(out, "blocked", blocked) < 0)
        return LOGTO_OOM(err);
    return dump_canonical(out, ret, ret_len, err);
}

/* ------------------------------------------------------------------------------------------ */
/* logtoctl publish */

/* The manifest DIR holds now, if it is one this key signed. */
static bool previous_manifest(int dirfd, const char *dir, EVP_PKEY *key,
                              struct logto_relay_manifest *ret)
{
    _cleanup_free_ char *buf = NULL, *path = logto_asprintf("%s/%s", dir, LOGTO_RELAY_MANIFEST);
    size_t len = 0;
    struct logto_error e = { 0 };

    if (!path || logto_file_read_at(dirfd, LOGTO_RELAY_MANIFEST, path, LOGTO_FILE_PUBLIC,
                                    LOGTO_RELAY_MANIFEST_MAX, &buf, &len, &e) < 0)
        return false;
    return logto_relay_manifest_verify(buf, len, key, ret, &e) >= 0;
}

/* Write a published file named by its hash into DIR unless it is there at that size already.
 * *written says whether it was written. */
static int write_published(int dirfd, const char *dir, const char *name, const void *data,
                           size_t len, bool *written, struct logto_error *err)
{
    _cleanup_free_ char *path = logto_asprintf("%s/%s", dir, name);
    struct stat st;
    int r;

    *written = false;
    if (!path)
        return LOGTO_OOM(err);
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (uint64_t)st.st_size == len)
        return 0;
    r = logto_file_write_at(dirfd, name, path, data, len, 0644, err);
    *written = r >= 0;
    return r;
}

/*
 * Write the delta from the directory old names (while DIR still holds its object) to json and
 * fill m's delta members. A delta only saves bytes: when it cannot be made, or is no smaller
 * than the object, the manifest has none. < 0 only for OOM or a failed write.
 */
static int publish_delta(const struct logto_ctx *ctx, int dirfd, const char *dir,
                         const struct logto_relay_manifest *old, const char *json, size_t json_len,
                         struct logto_relay_manifest *m, struct logto_error *err)
{
    _cleanup_free_ char *buf = NULL, *old_json = NULL, *delta = NULL, *path = NULL;
    _cleanup_free_ unsigned char *z = NULL;
    size_t len = 0, old_len = 0, delta_len = 0, z_len = 0;
    struct logto_error e = { 0 };
    bool written;
    char sha[65];
    int r;

    path = logto_asprintf("%s/%s", dir, old->object);
    if (!path)
        return LOGTO_OOM(err);
    r = logto_file_read_at(dirfd, old->object, path, LOGTO_FILE_PUBLIC, (size_t)old->size, &buf,
                           &len, &e);
    if (r >= 0 &&
        (len != old->size || sha256_hex(buf, len, sha) < 0 || strcmp(sha, old->sha256) != 0))
        r = logto_error_set(&e, LOGTO_E_PROTOCOL, "%s does not match its manifest", old->object);
    if (r >= 0)
        r = inflate_object((const unsigned char *)buf, len, INFLATED_MAX, &old_json, &old_len, &e);
    if (r >= 0)
        r = logto_relay_delta_make(old_json, old_len, json, json_len, &delta, &delta_len, &e);
    if (r >= 0)
        r = deflate_object(delta, delta_len, &z, &z_len, &e);
    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(err);
    if (r >= 0 && z_len >= m->size)
        r = logto_error_set(&e, LOGTO_E_INVAL, "the delta is no smaller than the directory");
    if (r < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "publish-no-delta reason=\"%s\"", e.message);
        return 0;
    }
    if (sha256_hex(z, z_len, m->delta_sha256) < 0 ||
        sha256_hex(old_json, old_len, m->delta_from) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "SHA-256 failed");
    snprintf(m->delta_object, sizeof(m->delta_object), "%s%s" OBJECT_SUFFIX,
             LOGTO_RELAY_DELTA_PREFIX, m->delta_sha256);
    m->delta_size = z_len;
    r = write_published(dirfd, dir, m->delta_object, z, z_len, &written, err);
    if (r < 0)
        return r;
    m->has_delta = true;
    return 0;
}

int logto_relay_publish(const struct logto_ctx *ctx, const char *dir,
                        struct logto_relay_publish_report *report, struct logto_error *err)
{
    const struct logto_config *cfg = ctx ? ctx->cfg : NULL;
    _cleanup_(pkey_freep) EVP_PKEY *key = NULL;
    _cleanup_(logto_sync_tenant_freep) struct logto_sync_tenant *t = NULL;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *sr = calloc(1, sizeof(*sr));
    _cleanup_free_ char *json = NULL, *manifest = NULL, *path = NULL;
    _cleanup_free_ unsigned char *object = NULL;
    _cleanup_close_ int dirfd = -1, lockfd = -1;
    struct logto_relay_manifest old = { 0 }, m = { .format = LOGTO_RELAY_FORMAT };
    bool have_old;
    size_t len = 0, json_len = 0;
    struct stat st;
    int64_t now = logto_now(ctx);
    int r;

    *report = (struct logto_relay_publish_report){ 0 };
    if (!sr)
        return LOGTO_OOM(err);
    if (!cfg || !cfg->publish_sign_key_file)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "publish needs a signing key: set sign_key_file in the [publish] "
                               "section of logto.conf (an Ed25519 private key in PEM, root 0600)");
    r = logto_relay_key_load_private(cfg->publish_sign_key_file, &key, err);
    if (r < 0)
        return r;
    r = logto_dir_open_trusted(dir, false, &dirfd, err);
    if (r < 0)
        return r;
    /* Two publishers into one DIR would race for the serial: the second waits, then fails. */
    r = logto_lock_at(dirfd, ".publish.lock", ".publish.lock", LOGTO_SYNC_LOCK_TIMEOUT, &lockfd,
                      err);
    if (r == -LOGTO_E_BUSY)
        return logto_error_set(err, LOGTO_E_BUSY, "another publish into %s is running", dir);
    if (r < 0)
        return r;

    r = logto_sync_tenant_fetch(ctx, &t, sr, err);
    if (r < 0)
        return r;
    report->requests = sr->requests;
    for (size_t i = 0; i < t->n; i++)
        report->refused += t->refused[i];
    report->users = t->n - report->refused;
    /* UIDs moved off a collision are written to Logto before anybody is told about them. */
    if (sr->n_uid_moves) {
        r = logto_sync_tenant_persist_moves(ctx, t, sr, err);
        if (r < 0)
            return r;
    }
    /* A refused user carries the publisher's reason to every host's report. */
    for (size_t i = 0; i < t->n; i++)
        for (size_t k = 0; t->refused[i] && t->users[i].id && k < sr->n_skipped; k++)
            if (strcmp(sr->skipped[k].sub, t->users[i].sub) == 0)
                t->users[i].reason = sr->skipped[k].reason;
    r = logto_relay_object_encode(t->users, t->refused, t->n, sr->blocked, &json, &json_len, err);
    if (r < 0)
        return r;
    r = deflate_object(json, json_len, &object, &len, err);
    if (r < 0)
        return r;
    if (sha256_hex(object, len, m.sha256) < 0 || sha256_hex(json, json_len, m.json_sha256) < 0)
        return logto_error_set(err, LOGTO_E_INVAL, "SHA-256 failed");
    snprintf(m.object, sizeof(m.object), "%s%s" OBJECT_SUFFIX, LOGTO_RELAY_OBJECT_PREFIX, m.sha256);
    m.size = len;

    have_old = previous_manifest(dirfd, dir, key, &old);
    if (have_old && strcmp(old.sha256, m.sha256) == 0 &&
        fstatat(dirfd, m.object, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        old.not_after - now > cfg->publish_validity / 2) {
        report->manifest = old;
        logto_log(&ctx->log, LOG_INFO, "publish-unchanged serial=%" PRId64 " sha256=%s", old.serial,
                  old.sha256);
        return 0;
    }
    m.serial = have_old && old.serial >= now ? old.serial + 1 : now;
    m.generated_at = now;
    m.not_after = now + cfg->publish_validity;
    if (have_old && strcmp(old.sha256, m.sha256) == 0 && old.has_delta) {
        /* The same directory signed again: hosts one change behind may still take its delta. */
        m.has_delta = true;
        memcpy(m.delta_from, old.delta_from, sizeof(m.delta_from));
        memcpy(m.delta_sha256, old.delta_sha256, sizeof(m.delta_sha256));
        memcpy(m.delta_object, old.delta_object, sizeof(m.delta_object));
        m.delta_size = old.delta_size;
    } else if (have_old && strcmp(old.sha256, m.sha256) != 0) {
        r = publish_delta(ctx, dirfd, dir, &old, json, json_len, &m, err);
        if (r < 0)
            return r;
        report->delta_written = m.has_delta;
    }

    r = write_published(dirfd, dir, m.object, object, len, &report->object_written, err);
    if (r < 0)
        return r;
    r = logto_relay_manifest_sign(&m, key, &manifest, err);
    if (r < 0)
        return r;
    path = logto_asprintf("%s/%s", dir, LOGTO_RELAY_MANIFEST);
    if (!path)
        return LOGTO_OOM(err);
    r = logto_file_write_at(dirfd, LOGTO_RELAY_MANIFEST, path, manifest, strlen(manifest), 0644,
                            err);
    if (r < 0)
        return r;
    /* Static servers derive the ETag from the modification time in seconds and the size (nginx,
     * Apache), and a manifest's size rarely changes: its time is the serial, which only grows,
     * so two publishes within one second still differ (uploads that keep times carry it). */
    if (utimensat(
            dirfd, LOGTO_RELAY_MANIFEST,
            (struct timespec[2]){ { .tv_sec = (time_t)m.serial }, { .tv_sec = (time_t)m.serial } },
            AT_SYMLINK_NOFOLLOW) < 0)
        logto_log(&ctx->log, LOG_WARNING, "publish-mtime-failed path=%s errno=%d", path, errno);
    report->written = true;
    report->manifest = m;
    logto_log(&ctx->log, LOG_INFO,
              "publish-done serial=%" PRId64 " sha256=%s size=%" PRIu64 " delta_size=%" PRIu64
              " users=%zu refused=%zu",
              m.serial, m.sha256, m.size, m.has_delta ? m.delta_size : 0, report->users,
              report->refused);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* A relay host's sync */

struct relay_state {
    struct logto_relay_installed installed;
    char json_sha256[65]; /* of the local copy's JSON ("": no usable copy) */
    char host_sha256[65]; /* of this host's inputs when it was installed (host_inputs_sha256) */
    char *etag;
};

static int digest_file(struct logto_sha256 *md, const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char buf[8192];
    ssize_t n;

    logto_sha256_update(md, path, strlen(path) + 1);
    if (fd < 0) {
        logto_sha256_update(md, "", 1);
        return errno == ENOENT ? 0 : -1;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        logto_sha256_update(md, buf, (size_t)n);
    logto_sha256_update(md, "\n", 1); /* "" (missing) != "\n" */
    return n == 0 ? 0 : -1;
}

/*
 * The SHA-256 of what this host's build of a directory depends on besides the directory: this
 * version, the configuration files, the local account files, the login shells and
 * base-passwd's reserved names. A relay sync that has nothing new from the relay still
 * rebuilds from its local copy when it changed, so a service added to logto.conf or a local
 * account added since takes effect at the next sync, as on a direct-sync host. "" when a file
 * could not be read (which counts as a change).
 */
static void host_inputs_sha256(const struct logto_ctx *ctx, char out[65])
{
    const char *base = ctx->base_passwd_dir ? ctx->base_passwd_dir : LOGTO_BASE_PASSWD_DIR;
    _cleanup_free_ char *passwd_master = logto_asprintf("%s/passwd.master", base);
    _cleanup_free_ char *group_master = logto_asprintf("%s/group.master", base);
    const char *files[] = { ctx->passwd_path ? ctx->passwd_path : LOGTO_PASSWD_PATH,
                            ctx->group_path ? ctx->group_path : LOGTO_GROUP_PATH,
                            ctx->shells_path ? ctx->shells_path : LOGTO_SHELLS_PATH, passwd_master,
                            group_master };
    struct logto_sha256 md;
    uint8_t d[LOGTO_SHA256_SIZE];
    bool ok = passwd_master && group_master;

    out[0] = '\0';
    logto_sha256_init(&md);
    logto_sha256_update(&md, PACKAGE_VERSION, sizeof(PACKAGE_VERSION));
    for (char **s = ctx->cfg->sources; ok && s && *s; s++)
        ok = digest_file(&md, *s) == 0;
    for (size_t i = 0; ok && i < ELEMENTSOF(files); i++)
        ok = digest_file(&md, files[i]) == 0;
    if (!ok)
        return;
    logto_sha256_final(&md, d);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int state_read(const struct logto_ctx *ctx, struct relay_state *st, struct logto_error *err)
{
    _cleanup_json_ json_t *doc = NULL;
    _cleanup_free_ char *path = NULL;
    struct logto_relay_installed *in = &st->installed;
    const char *sha = NULL, *etag = NULL, *json_sha = NULL, *host_sha = NULL;
    int r = logto_state_doc_read(ctx, LOGTO_RELAY_STATE, 4096, 2, STATE_VERSION, &doc, &path, err);

    if (r < 0)
        return r;
    /* generated_at, not_after, json_sha256 and host_sha256: absent in files of older
     * versions. */
    if ((r = logto_json_get_int(doc, "serial", LOGTO_JSON_REQUIRED, 0, INT64_MAX, &in->serial,
                                err)) < 0 ||
        (r = logto_json_get_int(doc, "generated_at", 0, 0, INT64_MAX, &in->generated_at, err)) <
            0 ||
        (r = logto_json_get_int(doc, "not_after", 0, 0, INT64_MAX, &in->not_after, err)) < 0 ||
        (r = logto_json_get_string(doc, "sha256", LOGTO_JSON_REQUIRED, &sha, err)) < 0 ||
        (r = logto_json_get_string(doc, "etag", 0, &etag, err)) < 0 ||
        (r = logto_json_get_string(doc, "json_sha256", 0, &json_sha, err)) < 0 ||
        (r = logto_json_get_string(doc, "host_sha256", 0, &host_sha, err)) < 0 || !is_hex64(sha) ||
        (json_sha && !is_hex64(json_sha)) || (host_sha && !is_hex64(host_sha)))
        return logto_state_doc_malformed(path, r < 0 ? r : -LOGTO_E_PROTOCOL, err);
    memcpy(in->sha256, sha, 65);
    if (json_sha)
        memcpy(st->json_sha256, json_sha, 65);
    if (host_sha)
        memcpy(st->host_sha256, host_sha, 65);
    st->etag = etag ? strdup(etag) : NULL;
    return etag && !st->etag ? LOGTO_OOM(err) : 0;
}

int logto_relay_installed_read(const struct logto_ctx *ctx, struct logto_relay_installed *ret,
                               struct logto_error *err)
{
    struct relay_state st = { 0 };
    int r = state_read(ctx, &st, err);

    free(st.etag);
    if (r >= 0)
        *ret = st.installed;
    return r;
}

static int state_write(const struct logto_ctx *ctx, const struct relay_state *st,
                       struct logto_error *err)
{
    _cleanup_json_ json_t *doc = json_pack(
        "{s:i,s:I,s:I,s:I,s:s,s:s?,s:s?,s:s?}", "version", STATE_VERSION, "serial",
        (json_int_t)st->installed.serial, "generated_at", (json_int_t)st->installed.generated_at,
        "not_after", (json_int_t)st->installed.not_after, "sha256", st->installed.sha256, "etag",
        st->etag, "json_sha256", st->json_sha256[0] ? st->json_sha256 : NULL, "host_sha256",
        st->host_sha256[0] ? st->host_sha256 : NULL);
    return doc ? logto_state_doc_write(ctx, LOGTO_RELAY_STATE, doc, err) : LOGTO_OOM(err);
}

/* An ETag we send back: printable ASCII, bounded. */
static bool etag_ok(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++, n++)
        if (*s < 0x21 || *s > 0x7e || n > 200)
            return false;
    return n > 0;
}

static int fetch(struct logto_http *http, const char *base, const char *name, const char *etag,
                 size_t max, struct logto_http_response *resp, struct logto_error *err)
{
    _cleanup_free_ char *url = logto_asprintf("%s/%s", base, name);
    struct logto_http_request req = { .method = "GET", .url = url, .if_none_match = etag };
    int r;

    if (!url)
        return LOGTO_OOM(err);
    r = logto_http_set_max_response(http, max, err);
    if (r >= 0)
        r = logto_http_send(http, &req, resp, err);
    if (r < 0)
        return logto_error_prefix(err, "the relay's %s", name), r;
    if (resp->status != 200 && resp->status != 304)
        return logto_error_set(err, LOGTO_E_UNREACHABLE, "the relay answered HTTP %ld for %s",
                               resp->status, name);
    return 0;
}

/* fetch, then the answer must have exactly the size and SHA-256 the signed manifest gives. */
static int fetch_signed(struct logto_http *http, const char *base, const char *name, uint64_t size,
                        const char *sha256, struct logto_http_response *resp,
                        struct logto_error *err)
{
    char sha[65];
    int r = fetch(http, base, name, NULL, (size_t)size, resp, err);

    if (r < 0)
        return r;
    if (resp->body_len != size || sha256_hex(resp->body, resp->body_len, sha) < 0 ||
        strcmp(sha, sha256) != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL,
                               "the relay's %s does not match the signed manifest (size or "
                               "SHA-256)",
                               name);
    return 0;
}

static int relay_refuse(const struct logto_ctx *ctx, int r, struct logto_error *err)
{
    logto_log(&ctx->log, LOG_ERR, "relay-sync-refused code=%s reason=\"%s\"",
              logto_errc_name(logto_errc_from(r)), err ? err->message : "");
    return r;
}

static int install(const struct logto_ctx *ctx, const struct logto_sync_options *opts, int statefd,
                   const struct logto_relay_stamp *stamp, const char *json, size_t json_len,
                   struct logto_sync_report *report, struct logto_error *err)
{
    _cleanup_(logto_directory_freep) struct logto_directory *dir = NULL, *old = NULL;
    _cleanup_(logto_blocked_freep) struct logto_blocked *blocked = NULL;
    _cleanup_close_ int updatefd = -1;
    struct logto_sync_user *users = NULL;
    _cleanup_free_ bool *keep = NULL;
    struct logto_error e = { 0 };
    size_t n = 0;
    int r = logto_relay_object_decode(json, json_len, &users, &n, &blocked, err);

    if (r < 0)
        return r;
    keep = calloc(n + 1, sizeof(*keep));
    r = keep ? logto_sync_build_host(ctx, users, n, &dir, keep, report, err) : LOGTO_OOM(err);
    if (r < 0)
        goto out;
    /* The publisher's blocked names and UIDs, not this host's (it decided nothing). */
    logto_blocked_free(report->blocked);
    report->blocked = TAKE_PTR(blocked);
    if (!opts->dry_run &&
        (r = logto_lock_at(statefd, LOGTO_DIRECTORY_UPDATE_LOCK, LOGTO_DIRECTORY_UPDATE_LOCK,
                           LOGTO_SYNC_LOCK_TIMEOUT, &updatefd, err)) < 0)
        goto out;
    r = logto_snapshot_read(report->path, &old, &e);
    if (r == -LOGTO_E_NOMEM) {
        r = LOGTO_OOM(err);
        goto out;
    }
    report->previous_users = old ? old->n_users : 0;
    report->previous_groups = old ? old->n_groups : 0;
    r = logto_sync_diff(old, dir, report, err);
    if (r < 0)
        goto out;
    report->users = dir->n_users;
    report->groups = dir->n_groups;
    for (size_t i = 0; i < dir->n_users; i++)
        report->suspended += (dir->users[i].flags & LOGTO_USER_SUSPENDED) != 0;
    if (opts->dry_run)
        goto out;
    dir->generated_at = logto_now(ctx);
    logto_directory_set_enumerate(dir, !ctx->cfg->no_enumerate);
    /* The claims first: a sync that dies before the snapshot leaves the old users, whose claims
     * are then missing (refused), never the new users with old claims. */
    r = logto_relay_claims_write(ctx, stamp, users, n, keep, err);
    if (r >= 0)
        r = logto_blocked_write(ctx, report->blocked, err);
    if (r >= 0)
        r = logto_snapshot_write(report->path, dir, err);
    if (r < 0)
        goto out;
    report->written = true;
    e = (struct logto_error){ 0 };
    if (logto_sync_keys_update(ctx, users, n, keep, report, &e) < 0) {
        report->late_error = -LOGTO_E_IO;
        snprintf(report->late_message, sizeof(report->late_message),
                 "updating the SSH key cache: %.400s", e.message);
    }
out:
    logto_relay_users_free(users, n);
    return r;
}

/* The installed directory's JSON, from the local copy, if its hash is the one relay.state
 * records. */
static int local_copy_read(int statefd, const struct logto_ctx *ctx, const char *want_sha,
                           char **ret, size_t *ret_len, struct logto_error *err)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_LOCAL_COPY);
    _cleanup_free_ char *buf = NULL, *json = NULL;
    size_t len = 0, json_len = 0;
    char sha[65];
    int r;

    if (!path)
        return LOGTO_OOM(err);
    r = logto_file_read_at(statefd, LOGTO_RELAY_LOCAL_COPY, path, LOGTO_FILE_PUBLIC,
                           LOGTO_RELAY_OBJECT_MAX, &buf, &len, err);
    if (r >= 0)
        r = inflate_object((const unsigned char *)buf, len, INFLATED_MAX, &json, &json_len, err);
    if (r < 0)
        return r;
    if (sha256_hex(json, json_len, sha) < 0 || strcmp(sha, want_sha) != 0)
        return logto_error_set(err, LOGTO_E_PROTOCOL, "%s is not the installed directory (SHA-256)",
                               path);
    *ret = TAKE_PTR(json);
    *ret_len = json_len;
    return 0;
}

/*
 * The new directory's JSON from the local copy and the manifest's delta (*ret; NULL when the
 * delta cannot be used: the caller fetches the object then). Each step is checked: the local
 * copy against relay.state, the delta against the signed size and SHA-256, the result against
 * the signed json_sha256. < 0 only for OOM.
 */
static int via_delta(const struct logto_ctx *ctx, struct logto_http *http, const char *base,
                     int statefd, const struct relay_state *st,
                     const struct logto_relay_manifest *m, char **ret, size_t *ret_len,
                     struct logto_sync_report *report, struct logto_error *err)
{
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *old = NULL, *delta = NULL, *json = NULL;
    size_t old_len = 0, delta_len = 0, json_len = 0;
    struct logto_error e = { 0 };
    char sha[65];
    int r = local_copy_read(statefd, ctx, st->json_sha256, &old, &old_len, &e);

    if (r >= 0) {
        r = fetch_signed(http, base, m->delta_object, m->delta_size, m->delta_sha256, &resp, &e);
        report->requests++;
    }
    if (r >= 0)
        r = inflate_object((const unsigned char *)resp.body, resp.body_len, INFLATED_MAX, &delta,
                           &delta_len, &e);
    if (r >= 0)
        r = logto_relay_delta_apply(old, old_len, delta, delta_len, &json, &json_len, &e);
    if (r >= 0 && (sha256_hex(json, json_len, sha) < 0 || strcmp(sha, m->json_sha256) != 0))
        r = logto_error_set(&e, LOGTO_E_PROTOCOL,
                            "the directory rebuilt from the delta is not the signed one");
    if (r == -LOGTO_E_NOMEM)
        return LOGTO_OOM(err);
    if (r < 0) {
        logto_log(&ctx->log, LOG_NOTICE, "relay-delta-unusable reason=\"%s\"", e.message);
        return 0;
    }
    *ret = TAKE_PTR(json);
    *ret_len = json_len;
    return 0;
}

/* Keep the installed directory (the object as served, or else compressed here) as the base of
 * the next delta, and its hash in st. Failing only costs the next change a whole object. */
static void keep_local_copy(const struct logto_ctx *ctx, int statefd, const char *json,
                            size_t json_len, const struct logto_http_response *object,
                            struct relay_state *st)
{
    _cleanup_free_ char *path = logto_state_path(ctx, LOGTO_RELAY_LOCAL_COPY);
    _cleanup_free_ unsigned char *z = NULL;
    struct logto_error e = { 0 };
    size_t z_len = 0;
    int r = path ? 0 : LOGTO_OOM(&e);

    st->json_sha256[0] = '\0';
    if (r >= 0 && !object)
        r = deflate_level(json, json_len, 1, &z, &z_len, &e); /* fast: only this host reads it */
    if (r >= 0)
        r = logto_file_write_at(statefd, LOGTO_RELAY_LOCAL_COPY, path,
                                object ? (const void *)object->body : z,
                                object ? object->body_len : z_len, 0600, &e);
    if (r >= 0 && sha256_hex(json, json_len, st->json_sha256) < 0)
        st->json_sha256[0] = '\0';
    if (r < 0)
        logto_log(&ctx->log, LOG_WARNING, "relay-local-copy-failed reason=\"%s\"", e.message);
}

int logto_relay_sync(const struct logto_ctx *ctx, const struct logto_sync_options *opts,
                     struct logto_sync_report **ret_report, struct logto_error *err)
{
    const struct logto_config *cfg = ctx->cfg;
    _cleanup_(logto_sync_report_freep) struct logto_sync_report *report =
        calloc(1, sizeof(*report));
    _cleanup_(pkey_freep) EVP_PKEY *key = NULL;
    _cleanup_http_ struct logto_http *http = NULL;
    _cleanup_http_response_ struct logto_http_response resp = { 0 };
    _cleanup_free_ char *base = NULL, *lockpath = NULL, *etag = NULL, *json = NULL,
                        *claims_path = logto_state_path(ctx, LOGTO_RELAY_CLAIMS);
    _cleanup_close_ int statefd = -1, lockfd = -1;
    struct relay_state st = { 0 };
    struct logto_relay_stamp stamp;
    struct logto_relay_manifest m;
    char sha[65], host[65];
    bool host_changed, installed;
    int64_t t0 = logto_monotonic_ms();
    size_t blen, json_len = 0;
    int r;

    if (!report)
        return LOGTO_OOM(err);
    if (!cfg->state_dir || !cfg->relay_public_key_file)
        return logto_error_set(err, LOGTO_E_CONFIG,
                               "a relay sync needs [relay] public_key_file and [paths] state_dir");
    if (opts->persist_uids || opts->keep_collisions)
        return logto_error_set(err, LOGTO_E_INVAL,
                               "--persist-uids and --no-persist-uids are for the publisher: this "
                               "relay host takes every UID from the signed directory and holds no "
                               "Management API credential to write one (the publisher's "
                               "logtoctl sync --persist-uids does)");
    if (opts->user)
        return logto_error_set(err, LOGTO_E_INVAL,
                               "sync --user is for hosts that ask the Management API: this relay "
                               "host installs the signed directory as a whole (run logtoctl sync; "
                               "a change reaches it after the publisher's next publish)");
    report->dry_run = opts->dry_run;
    report->path = opts->path ? strdup(opts->path)
                              : logto_asprintf("%s/%s", cfg->state_dir, LOGTO_SNAPSHOT_NAME);
    base = strdup(cfg->relay_url);
    if (!report->path || !base)
        return LOGTO_OOM(err);
    for (blen = strlen(base); blen > 0 && base[blen - 1] == '/'; blen--)
        base[blen - 1] = '\0';
    r = logto_relay_key_load_public(cfg->relay_public_key_file, &key, err);
    if (r < 0)
        return r;
    r = logto_dir_ensure(cfg->state_dir, 0755, false, &statefd, err);
    if (r < 0)
        return r;
    lockpath = logto_asprintf("%s/%s", cfg->state_dir, LOGTO_SYNC_LOCK);
    if (!lockpath)
        return LOGTO_OOM(err);
    r = logto_lock_at(statefd, LOGTO_SYNC_LOCK, lockpath, LOGTO_SYNC_LOCK_TIMEOUT, &lockfd, err);
    if (r == -LOGTO_E_BUSY)
        return logto_error_set(err, LOGTO_E_BUSY, "another sync is running (%s is locked)",
                               lockpath);
    if (r < 0)
        return r;
    r = state_read(ctx, &st, err);
    if (r < 0 && r != -LOGTO_E_NOTFOUND)
        return r;
    host_inputs_sha256(ctx, host);
    host_changed = !host[0] || strcmp(host, st.host_sha256) != 0;
    r = logto_http_new(ctx, 0, &http, err);
    if (r < 0)
        goto out;

    /* 1. The manifest, conditionally: the ETag only counts while the snapshot and the claims
     * (relayclaims.h) are there and this host's inputs are those they were built from. */
    r = fetch(http, base, LOGTO_RELAY_MANIFEST,
              etag_ok(st.etag) && !host_changed && access(report->path, F_OK) == 0 && claims_path &&
                      access(claims_path, F_OK) == 0
                  ? st.etag
                  : NULL,
              LOGTO_RELAY_MANIFEST_MAX, &resp, err);
    report->requests = 1;
    if (r < 0)
        goto refused;
    report->via = "unchanged";
    if (resp.status == 304) {
        _cleanup_snapshot_ struct logto_snapshot *cur = NULL;
        struct logto_error e = { 0 };
        /* The relay still serves the installed manifest: past its not_after, the publisher has
         * fallen silent, and the run fails as it would with the manifest itself (nothing is
         * written; the installed snapshot stays). */
        if (st.installed.not_after > 0 && st.installed.not_after < logto_now(ctx)) {
            r = logto_error_set(err, LOGTO_E_EXPIRED,
                                "the relay still serves the installed manifest (serial %" PRId64
                                "), which expired (not_after %" PRId64
                                " is past): the publisher has not published since",
                                st.installed.serial, st.installed.not_after);
            goto refused;
        }
        /* The counts for the report from the header (an O(1) open): reading the whole
         * snapshot cost 0.8 s of CPU and 100 MB at 100,000 users (bench/fleet-bench.sh). */
        if (logto_snapshot_open(report->path, &cur, &e) >= 0) {
            report->users = report->previous_users = logto_snapshot_n_users(cur);
            report->groups = report->previous_groups = logto_snapshot_n_groups(cur);
        }
        logto_log(&ctx->log, LOG_INFO, "relay-sync-unchanged serial=%" PRId64 " requests=1",
                  st.installed.serial);
        goto done;
    }
    etag = resp.etag && etag_ok(resp.etag) ? strdup(resp.etag) : NULL;
    r = logto_relay_manifest_verify(resp.body, resp.body_len, key, &m, err);
    if (r < 0)
        goto refused;
    if (m.serial < st.installed.serial) {
        r = logto_error_set(err, LOGTO_E_PROTOCOL,
                            "the relay's manifest has serial %" PRId64
                            ", older than the installed %" PRId64 " (a rollback): refused",
                            m.serial, st.installed.serial);
        goto refused;
    }
    if (m.not_after < logto_now(ctx)) {
        r = logto_error_set(err, LOGTO_E_EXPIRED,
                            "the relay's manifest expired (not_after %" PRId64
                            " is past): the publisher has not published since; refused",
                            m.not_after);
        goto refused;
    }
    stamp = (struct logto_relay_stamp){ .serial = m.serial,
                                        .generated_at = m.generated_at,
                                        .not_after = m.not_after };
    memcpy(stamp.sha256, m.sha256, sizeof(stamp.sha256));
    report->via = "re-signed";
    installed = strcmp(m.sha256, st.installed.sha256) == 0;
    if (installed && access(report->path, F_OK) == 0 && !host_changed) {
        /* The installed directory, signed again: only the serial and the claims' stamp move
         * (claims of another object, or none, are rebuilt from the object). */
        if (opts->dry_run)
            goto done;
        r = logto_relay_claims_restamp(ctx, &stamp, err);
        if (r >= 0)
            goto remember;
        if (r != -LOGTO_E_NOTFOUND)
            goto refused;
    } else if (installed && st.json_sha256[0]) {
        /* This host's configuration or local accounts changed: the installed directory again,
         * from the local copy (the object when that is unusable), through this host's build. */
        struct logto_error e = { 0 };
        r = local_copy_read(statefd, ctx, st.json_sha256, &json, &json_len, &e);
        if (r == -LOGTO_E_NOMEM) {
            r = LOGTO_OOM(err);
            goto refused;
        }
        if (r >= 0)
            report->via = "rebuilt";
        else
            logto_log(&ctx->log, LOG_NOTICE, "relay-local-copy-unusable reason=\"%s\"", e.message);
    }
    if (!json)
        report->via = "object";

    /* 2. The delta from the installed directory, if the manifest has one; else, or when it does
     * not give exactly the signed directory, the object, no larger than announced, with that
     * hash. */
    if (!json && m.has_delta && st.json_sha256[0] && strcmp(m.delta_from, st.json_sha256) == 0) {
        r = via_delta(ctx, http, base, statefd, &st, &m, &json, &json_len, report, err);
        if (r < 0)
            goto refused;
        if (json)
            report->via = "delta";
    }
    if (!json) {
        r = fetch_signed(http, base, m.object, m.size, m.sha256, &resp, err);
        report->requests++;
        if (r < 0)
            goto refused;
        r = inflate_object((const unsigned char *)resp.body, resp.body_len, INFLATED_MAX, &json,
                           &json_len, err);
        if (r < 0)
            goto refused;
        if (sha256_hex(json, json_len, sha) < 0 ||
            (m.json_sha256[0] && strcmp(sha, m.json_sha256) != 0)) {
            r = logto_error_set(err, LOGTO_E_PROTOCOL,
                                "the relay's %s inflates to another directory than the signed "
                                "manifest's json_sha256",
                                m.object);
            goto refused;
        }
    }
    r = install(ctx, opts, statefd, &stamp, json, json_len, report, err);
    if (r < 0)
        goto refused;
    if (opts->dry_run)
        goto done;
    if (strcmp(report->via, "rebuilt") != 0) /* else the local copy is already this one */
        keep_local_copy(ctx, statefd, json, json_len,
                        strcmp(report->via, "delta") == 0 ? NULL : &resp, &st);
    memcpy(st.host_sha256, host, sizeof(st.host_sha256));
remember:
    free(st.etag);
    st.etag = TAKE_PTR(etag);
    st.installed = (struct logto_relay_installed){ .serial = m.serial,
                                                   .generated_at = m.generated_at,
                                                   .not_after = m.not_after };
    memcpy(st.installed.sha256, m.sha256, sizeof(st.installed.sha256));
    r = state_write(ctx, &st, err);
    if (r < 0)
        goto out;
    logto_log(&ctx->log, LOG_INFO,
              "relay-sync-done serial=%" PRId64
              " users=%zu groups=%zu written=%s requests=%u via=%s",
              m.serial, report->users, report->groups, report->written ? "yes" : "no",
              report->requests, report->via);
done:
    report->elapsed_ms = logto_monotonic_ms() - t0;
    *ret_report = TAKE_PTR(report);
    r = 0;
    goto out;
refused:
    relay_refuse(ctx, r, err);
out:
    free(st.etag);
    return r;
}
