/* micronas serial protocol: framing, CRC-32 and the receive state machine (hardware/protocol.md). */
#include "protocol.h"

#include <string.h>

enum { ST_HUNT = 0, ST_VERSION, ST_HEADER, ST_BODY };

/* Nibble table of the reflected polynomial 0xEDB88320: 64 bytes of flash, two lookups per byte. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t proto_crc32(uint32_t crc, const uint8_t *data, size_t len) {
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

void proto_put_u16(uint8_t *dst, uint16_t value) {
    dst[0] = (uint8_t)value;
    dst[1] = (uint8_t)(value >> 8);
}

void proto_put_u32(uint8_t *dst, uint32_t value) {
    dst[0] = (uint8_t)value;
    dst[1] = (uint8_t)(value >> 8);
    dst[2] = (uint8_t)(value >> 16);
    dst[3] = (uint8_t)(value >> 24);
}

uint16_t proto_get_u16(const uint8_t *src) { return (uint16_t)(src[0] | (src[1] << 8)); }

uint32_t proto_get_u32(const uint8_t *src) {
    return (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16) | ((uint32_t)src[3] << 24);
}

size_t proto_encode(uint8_t *dst, uint8_t version, uint8_t type, uint16_t seq, const uint8_t *payload,
                    uint16_t len) {
    if (len > PROTO_MAX_PAYLOAD) {
        return 0;
    }
    if (len > 0 && payload != dst + PROTO_HEADER_BYTES) {
        memmove(dst + PROTO_HEADER_BYTES, payload, len);
    }
    dst[0] = PROTO_MAGIC;
    dst[1] = version;
    dst[2] = type;
    proto_put_u16(dst + 3, seq);
    proto_put_u16(dst + 5, len);
    size_t body = PROTO_HEADER_BYTES + (size_t)len;
    proto_put_u32(dst + body, proto_crc32(0, dst, body));
    return body + PROTO_CRC_BYTES;
}

void proto_decoder_init(proto_decoder *dec) { memset(dec, 0, sizeof(*dec)); }

const uint8_t *proto_payload(const proto_decoder *dec) { return dec->buf + PROTO_HEADER_BYTES; }

static void start_frame(proto_decoder *dec) {
    dec->buf[0] = PROTO_MAGIC;
    dec->filled = 1;
    dec->state = ST_VERSION;
}

proto_event proto_feed(proto_decoder *dec, uint8_t byte, uint32_t now_ms) {
    if (dec->state != ST_HUNT && (uint32_t)(now_ms - dec->last_byte_ms) > PROTO_GAP_MS) {
        dec->state = ST_HUNT; /* the partial frame went stale */
    }
    dec->last_byte_ms = now_ms;
    switch (dec->state) {
    case ST_HUNT:
        if (byte == PROTO_MAGIC) {
            start_frame(dec);
        }
        return PROTO_EV_NONE;
    case ST_VERSION:
        if (byte == 0) {
            dec->state = ST_HUNT;
        } else if (byte == PROTO_MAGIC) {
            /* could be a version byte 0xA5 or a new magic byte: 0xA5 is never used as a version */
            start_frame(dec);
        } else {
            dec->buf[dec->filled++] = byte;
            dec->state = ST_HEADER;
        }
        return PROTO_EV_NONE;
    case ST_HEADER:
        dec->buf[dec->filled++] = byte;
        if (dec->filled < PROTO_HEADER_BYTES) {
            return PROTO_EV_NONE;
        }
        dec->version = dec->buf[1];
        dec->type = dec->buf[2];
        dec->seq = proto_get_u16(dec->buf + 3);
        dec->len = proto_get_u16(dec->buf + 5);
        if (dec->len > PROTO_MAX_PAYLOAD) {
            dec->state = ST_HUNT;
            return PROTO_EV_LENGTH_ERROR;
        }
        dec->need = (uint16_t)(PROTO_HEADER_BYTES + dec->len + PROTO_CRC_BYTES);
        dec->state = ST_BODY;
        return PROTO_EV_NONE;
    default: /* ST_BODY */
        dec->buf[dec->filled++] = byte;
        if (dec->filled < dec->need) {
            return PROTO_EV_NONE;
        }
        dec->state = ST_HUNT;
        {
            size_t body = (size_t)dec->need - PROTO_CRC_BYTES;
            uint32_t expected = proto_get_u32(dec->buf + body);
            return proto_crc32(0, dec->buf, body) == expected ? PROTO_EV_FRAME : PROTO_EV_CRC_ERROR;
        }
    }
}
