/* The board side of the micronas protocol: session, upload, run and result paging, stored replies for
 * retransmissions (hardware/protocol.md). Plain C99, no dynamic allocation, no TFLM dependency: the
 * model slot, the interpreter and the serial output are reached through a board_backend. */
#ifndef MICRONAS_BOARD_H
#define MICRONAS_BOARD_H

#include "protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What INFO reports. protocol_version is PROTO_VERSION except in tests of a version mismatch. */
typedef struct {
    uint8_t protocol_version;
    uint8_t slot_location; /* 0 flash, 1 RAM */
    uint32_t core_clock_hz;
    uint32_t counter_hz;
    uint32_t arena_capacity_bytes;
    uint32_t model_capacity_bytes;
    const char *board;
    const char *core;
    const char *tflm_version;
    const char *kernel_library;
    const char *compiler;
    const char *firmware_build;
    const char *tick_unit; /* what a counter tick is: "cycles", "ns" or "instructions" */
} board_identity;

/* What a loaded model offers: its arena, its operators, and its int8 input and output tensors (the
 * pointers stay valid until model_release). */
typedef struct {
    uint32_t arena_used_bytes;
    uint16_t n_ops;
    uint8_t *input;
    uint32_t input_bytes;
    const uint8_t *output;
    uint32_t output_bytes;
} board_model;

/* Hardware and runtime hooks. Functions that can fail return 0 or a PROTO_E_* code and then write one
 * sentence (at most PROTO_MAX_MESSAGE characters) into msg. */
typedef struct {
    void *ctx;
    void (*send)(void *ctx, const uint8_t *data, size_t len);
    int (*slot_erase)(void *ctx, uint32_t model_bytes, char *msg);
    int (*slot_write)(void *ctx, uint32_t offset, const uint8_t *data, uint16_t len, char *msg);
    /* Flushes pending writes and points *image at the stored model for read-back. */
    int (*slot_finish)(void *ctx, const uint8_t **image, char *msg);
    int (*model_prepare)(void *ctx, const uint8_t *image, uint32_t model_bytes, board_model *model, char *msg);
    /* One timed Invoke on the input tensor as it is: whole-invoke ticks, and n_ops per-operator ticks into
     * op_ticks unless op_ticks is NULL. */
    int (*model_invoke)(void *ctx, uint32_t *invoke_ticks, uint32_t *op_ticks, char *msg);
    void (*model_release)(void *ctx);
} board_backend;

typedef struct {
    const board_identity *id;
    const board_backend *be;
    uint32_t *results;
    uint16_t result_capacity_words;
    proto_decoder dec;
    uint8_t session;
    uint8_t model_state;
    uint32_t load_bytes;
    uint32_t load_crc32;
    uint32_t received_bytes;
    uint32_t received_crc32;
    board_model model;
    uint32_t input_received; /* INPUT bytes written into the input tensor since the last Invoke */
    uint32_t input_crc32;
    uint16_t result_repeats; /* 0: no result */
    uint32_t cold_ticks;
    uint8_t stored;
    uint8_t stored_type;
    uint16_t stored_seq;
    uint32_t stored_crc32;
    size_t reply_len;
    uint8_t reply[PROTO_MAX_FRAME];
    uint8_t nak[PROTO_HEADER_BYTES + 1 + PROTO_MAX_MESSAGE + PROTO_CRC_BYTES];
    char msg[PROTO_MAX_MESSAGE + 1];
} board_state;

/* results: result_capacity_words words that hold one RUN's ticks. */
void board_init(board_state *b, const board_identity *id, const board_backend *be, uint32_t *results,
                uint16_t result_capacity_words);

/* Feeds received bytes; replies go out through be->send. now_ms: a millisecond clock. */
void board_receive(board_state *b, const uint8_t *data, size_t len, uint32_t now_ms);

/* Fills dst with the fixed RUN input pattern: low bytes of xorshift32 from seed 0x2545F491. */
void board_fill_input(uint8_t *dst, size_t len);

#ifdef __cplusplus
}
#endif

#endif
