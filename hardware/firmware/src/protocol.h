/* micronas serial protocol: framing, CRC-32 and the receive state machine (hardware/protocol.md).
 * Plain C99, no dynamic allocation, no TFLM dependency. */
#ifndef MICRONAS_PROTOCOL_H
#define MICRONAS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_MAGIC 0xA5u
#define PROTO_VERSION 3u
#define PROTO_HEADER_BYTES 7u
#define PROTO_CRC_BYTES 4u
#define PROTO_MAX_PAYLOAD 512u
#define PROTO_MAX_FRAME (PROTO_HEADER_BYTES + PROTO_MAX_PAYLOAD + PROTO_CRC_BYTES)
#define PROTO_MAX_CHUNK (PROTO_MAX_PAYLOAD - 4u)
#define PROTO_RESULT_HEADER_BYTES 16u
#define PROTO_MAX_OPS ((PROTO_MAX_PAYLOAD - PROTO_RESULT_HEADER_BYTES) / 4u - 1u)
#define PROTO_GAP_MS 100u
#define PROTO_MAX_STRING 63u
#define PROTO_MAX_MESSAGE 255u

/* Frame types. */
enum {
    PROTO_HELLO = 0x01,
    PROTO_LOAD_BEGIN = 0x02,
    PROTO_LOAD_CHUNK = 0x03,
    PROTO_LOAD_END = 0x04,
    PROTO_RUN = 0x05,
    PROTO_READ_RESULT = 0x06,
    PROTO_RESET = 0x07,
    PROTO_INPUT = 0x08,
    PROTO_INFER = 0x09,
    PROTO_INFO = 0x81,
    PROTO_CHUNK_ACK = 0x83,
    PROTO_LOAD_OK = 0x84,
    PROTO_RESULT = 0x85,
    PROTO_RESET_OK = 0x87,
    PROTO_OUTPUT = 0x89,
    PROTO_ERROR = 0xFF
};

/* ERROR codes. */
enum {
    PROTO_E_CRC = 0x01,
    PROTO_E_VERSION = 0x02,
    PROTO_E_LENGTH = 0x03,
    PROTO_E_TYPE = 0x04,
    PROTO_E_PAYLOAD = 0x05,
    PROTO_E_NO_SESSION = 0x06,
    PROTO_E_STATE = 0x07,
    PROTO_E_TOO_LARGE = 0x08,
    PROTO_E_OFFSET = 0x09,
    PROTO_E_HASH = 0x0A,
    PROTO_E_MODEL = 0x0B,
    PROTO_E_OPERATOR = 0x0C,
    PROTO_E_ARENA = 0x0D,
    PROTO_E_INVOKE = 0x0E,
    PROTO_E_ARGS = 0x0F,
    PROTO_E_FLASH = 0x10
};

/* CRC-32 (zlib): start with crc = 0, feed the data in any number of pieces. */
uint32_t proto_crc32(uint32_t crc, const uint8_t *data, size_t len);

void proto_put_u16(uint8_t *dst, uint16_t value);
void proto_put_u32(uint8_t *dst, uint32_t value);
uint16_t proto_get_u16(const uint8_t *src);
uint32_t proto_get_u32(const uint8_t *src);

/* Writes one frame into dst (capacity PROTO_MAX_FRAME is always enough); returns its length, or 0 when
 * len exceeds PROTO_MAX_PAYLOAD. payload may alias dst + PROTO_HEADER_BYTES. */
size_t proto_encode(uint8_t *dst, uint8_t version, uint8_t type, uint16_t seq, const uint8_t *payload,
                    uint16_t len);

/* What proto_feed reports after one byte. */
typedef enum {
    PROTO_EV_NONE = 0,   /* byte consumed, no complete frame yet */
    PROTO_EV_FRAME,      /* a frame with a valid CRC is in the decoder (any version) */
    PROTO_EV_CRC_ERROR,  /* a frame ended with a wrong CRC; type/seq hold its unverified header */
    PROTO_EV_LENGTH_ERROR /* a header announced LEN > 512; type/seq hold its unverified header */
} proto_event;

typedef struct {
    uint8_t state;
    uint16_t filled; /* bytes of the current frame in buf */
    uint16_t need;   /* bytes the current frame will have in total */
    uint32_t last_byte_ms;
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    uint16_t len;
    uint8_t buf[PROTO_MAX_FRAME];
} proto_decoder;

void proto_decoder_init(proto_decoder *dec);

/* Feeds one received byte; now_ms is a millisecond clock used for the 100 ms inter-byte gap. */
proto_event proto_feed(proto_decoder *dec, uint8_t byte, uint32_t now_ms);

/* Payload of the frame just reported by PROTO_EV_FRAME. */
const uint8_t *proto_payload(const proto_decoder *dec);

#ifdef __cplusplus
}
#endif

#endif
