/* SPDX-License-Identifier: MIT */
/* Terminal QR codes with libqrencode: half-block rendering with a quiet zone. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_QRENCODE
#include <qrencode.h>
#endif

#include "qr.h"

#ifdef HAVE_QRENCODE

#define FULL_BLOCK "\xe2\x96\x88" /* U+2588: both halves light */
#define UPPER_HALF "\xe2\x96\x80" /* U+2580: upper light */
#define LOWER_HALF "\xe2\x96\x84" /* U+2584: lower light */
#define CELL_MAX   3              /* bytes of the longest cell */

/* Is module (x, y) light? Everything outside the symbol is quiet zone, which is light. */
static bool light(const QRcode *qr, int x, int y)
{
    if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
        return true;
    return !(qr->data[y * qr->width + x] & 1);
}

static const char *cell(bool top, bool bottom)
{
    return top && bottom ? FULL_BLOCK : top ? UPPER_HALF : bottom ? LOWER_HALF : " ";
}

static char *render(const QRcode *qr)
{
    int side = qr->width + 2 * LOGTO_QR_MARGIN, lines = (side + 1) / 2;
    size_t cap = (size_t)lines * ((size_t)side * CELL_MAX + 1) + 1, len = 0;
    char *out = malloc(cap);

    if (!out)
        return NULL;
    for (int line = 0; line < lines; line++) {
        int y = line * 2 - LOGTO_QR_MARGIN;
        for (int x = -LOGTO_QR_MARGIN; x < qr->width + LOGTO_QR_MARGIN; x++) {
            const char *c = cell(light(qr, x, y), light(qr, x, y + 1));
            size_t n = strlen(c);
            memcpy(out + len, c, n);
            len += n;
        }
        out[len++] = '\n';
    }
    out[len] = '\0';
    return out;
}

int logto_qr_render(const char *text, char **ret, struct logto_error *err)
{
    QRcode *qr;

    if (!text || !text[0] || strlen(text) > LOGTO_QR_MAX_TEXT)
        return logto_error_set(err, LOGTO_E_INVAL, "QR code text is empty or too long");
    /* 8-bit mode keeps URLs exactly as given; level L keeps the symbol small. */
    qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
    if (!qr)
        return logto_error_set(err, LOGTO_E_NOMEM, "cannot encode the QR code");
    *ret = render(qr);
    QRcode_free(qr);
    return *ret ? 0 : LOGTO_OOM(err);
}

#else

int logto_qr_render(const char *text, char **ret, struct logto_error *err)
{
    (void)text;
    (void)ret;
    return logto_error_set(err, LOGTO_E_UNSUPPORTED, "built without QR code support");
}

#endif
