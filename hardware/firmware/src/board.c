/* The board side of the micronas protocol (hardware/protocol.md, sections 3 and 4). */
#include "board.h"

#include <string.h>

enum { MODEL_EMPTY = 0, MODEL_LOADING, MODEL_READY };

/* Room for the records of a RESULT page after its 16-byte header. */
#define PAGE_WORDS ((PROTO_MAX_PAYLOAD - PROTO_RESULT_HEADER_BYTES) / 4u)

static void msg_set(char *msg, const char *text) {
    strncpy(msg, text, PROTO_MAX_MESSAGE);
    msg[PROTO_MAX_MESSAGE] = '\0';
}

static void msg_cat(char *msg, const char *text) {
    size_t used = strlen(msg);
    if (used < PROTO_MAX_MESSAGE) {
        strncat(msg, text, PROTO_MAX_MESSAGE - used);
    }
}

static void msg_cat_u32(char *msg, uint32_t value) {
    char digits[11];
    int i = 10;
    digits[i] = '\0';
    do {
        digits[--i] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    msg_cat(msg, digits + i);
}

void board_fill_input(uint8_t *dst, size_t len) {
    uint32_t x = 0x2545F491u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        dst[i] = (uint8_t)x;
    }
}

static void release_model(board_state *b) {
    if (b->model_state == MODEL_READY) {
        b->be->model_release(b->be->ctx);
    }
    b->model_state = MODEL_EMPTY;
    b->result_repeats = 0;
    b->input_received = 0;
}

static void power_on_state(board_state *b) {
    release_model(b);
    b->session = 0;
    b->stored = 0;
}

void board_init(board_state *b, const board_identity *id, const board_backend *be, uint32_t *results,
                uint16_t result_capacity_words) {
    memset(b, 0, sizeof(*b));
    b->id = id;
    b->be = be;
    b->results = results;
    b->result_capacity_words = result_capacity_words;
    proto_decoder_init(&b->dec);
}

/* Sends an ERROR that answers no executed request (CRC, LENGTH, VERSION): the stored reply stays. */
static void send_nak(board_state *b, uint16_t seq, uint8_t code, const char *text) {
    uint8_t *payload = b->nak + PROTO_HEADER_BYTES;
    size_t m = strlen(text);
    payload[0] = code;
    memcpy(payload + 1, text, m);
    size_t n = proto_encode(b->nak, b->id->protocol_version, PROTO_ERROR, seq, payload, (uint16_t)(1 + m));
    b->be->send(b->be->ctx, b->nak, n);
}

/* Replies to an executed request: the payload is already at reply + PROTO_HEADER_BYTES. */
static void reply(board_state *b, uint8_t type, uint16_t len) {
    b->reply_len = proto_encode(b->reply, b->id->protocol_version, type, b->dec.seq,
                                b->reply + PROTO_HEADER_BYTES, len);
    b->be->send(b->be->ctx, b->reply, b->reply_len);
}

static void reply_error(board_state *b, uint8_t code, const char *text) {
    uint8_t *payload = b->reply + PROTO_HEADER_BYTES;
    size_t m = strlen(text);
    if (m > PROTO_MAX_MESSAGE) {
        m = PROTO_MAX_MESSAGE;
    }
    payload[0] = code;
    memcpy(payload + 1, text, m);
    reply(b, PROTO_ERROR, (uint16_t)(1 + m));
}

static size_t put_string(uint8_t *dst, const char *text) {
    size_t n = strlen(text);
    if (n > PROTO_MAX_STRING) {
        n = PROTO_MAX_STRING;
    }
    dst[0] = (uint8_t)n;
    memcpy(dst + 1, text, n);
    return 1 + n;
}

static void do_hello(board_state *b) {
    const board_identity *id = b->id;
    uint8_t *p = b->reply + PROTO_HEADER_BYTES;
    release_model(b);
    b->session = 1;
    b->stored = 0;
    p[0] = id->protocol_version;
    p[1] = id->slot_location;
    proto_put_u16(p + 2, PROTO_MAX_PAYLOAD);
    proto_put_u32(p + 4, id->core_clock_hz);
    proto_put_u32(p + 8, id->counter_hz);
    proto_put_u32(p + 12, id->arena_capacity_bytes);
    proto_put_u32(p + 16, id->model_capacity_bytes);
    proto_put_u16(p + 20, b->result_capacity_words);
    size_t n = 22;
    const char *strings[7] = {id->board,    id->core,           id->tflm_version, id->kernel_library,
                              id->compiler, id->firmware_build, id->tick_unit};
    for (int i = 0; i < 7; i++) {
        n += put_string(p + n, strings[i]);
    }
    reply(b, PROTO_INFO, (uint16_t)n);
}

static void reply_chunk_ack(board_state *b) {
    uint8_t *p = b->reply + PROTO_HEADER_BYTES;
    proto_put_u32(p, b->received_bytes);
    proto_put_u32(p + 4, b->received_crc32);
    reply(b, PROTO_CHUNK_ACK, 8);
}

static void do_load_begin(board_state *b, const uint8_t *p) {
    uint32_t size = proto_get_u32(p);
    release_model(b);
    if (size == 0 || size > b->id->model_capacity_bytes) {
        msg_set(b->msg, "a model of ");
        msg_cat_u32(b->msg, size);
        msg_cat(b->msg, " bytes does not fit the model slot of 1 to ");
        msg_cat_u32(b->msg, b->id->model_capacity_bytes);
        msg_cat(b->msg, " bytes");
        reply_error(b, PROTO_E_TOO_LARGE, b->msg);
        return;
    }
    b->msg[0] = '\0';
    int code = b->be->slot_erase(b->be->ctx, size, b->msg);
    if (code != 0) {
        reply_error(b, (uint8_t)code, b->msg);
        return;
    }
    b->model_state = MODEL_LOADING;
    b->load_bytes = size;
    b->load_crc32 = proto_get_u32(p + 4);
    b->received_bytes = 0;
    b->received_crc32 = 0;
    reply_chunk_ack(b);
}

static void do_load_chunk(board_state *b, const uint8_t *p, uint16_t len) {
    uint32_t offset = proto_get_u32(p);
    uint16_t n = (uint16_t)(len - 4u);
    if (b->model_state != MODEL_LOADING) {
        reply_error(b, PROTO_E_STATE, "LOAD_CHUNK without LOAD_BEGIN: no upload is in progress");
        return;
    }
    if (offset != b->received_bytes) {
        msg_set(b->msg, "chunk offset ");
        msg_cat_u32(b->msg, offset);
        msg_cat(b->msg, " is not the expected offset ");
        msg_cat_u32(b->msg, b->received_bytes);
        reply_error(b, PROTO_E_OFFSET, b->msg);
        return;
    }
    if ((uint32_t)n > b->load_bytes - b->received_bytes) {
        msg_set(b->msg, "chunk ends at byte ");
        msg_cat_u32(b->msg, offset + n);
        msg_cat(b->msg, ", past the announced model size of ");
        msg_cat_u32(b->msg, b->load_bytes);
        msg_cat(b->msg, " bytes");
        reply_error(b, PROTO_E_TOO_LARGE, b->msg);
        return;
    }
    b->msg[0] = '\0';
    int code = b->be->slot_write(b->be->ctx, offset, p + 4, n, b->msg);
    if (code != 0) {
        b->model_state = MODEL_EMPTY;
        reply_error(b, (uint8_t)code, b->msg);
        return;
    }
    b->received_bytes += n;
    b->received_crc32 = proto_crc32(b->received_crc32, p + 4, n);
    reply_chunk_ack(b);
}

static void do_load_end(board_state *b) {
    const uint8_t *image = 0;
    if (b->model_state != MODEL_LOADING) {
        reply_error(b, PROTO_E_STATE, "LOAD_END without LOAD_BEGIN: no upload is in progress");
        return;
    }
    b->model_state = MODEL_EMPTY; /* whatever happens next, this upload is over */
    if (b->received_bytes != b->load_bytes) {
        msg_set(b->msg, "upload incomplete: ");
        msg_cat_u32(b->msg, b->received_bytes);
        msg_cat(b->msg, " of ");
        msg_cat_u32(b->msg, b->load_bytes);
        msg_cat(b->msg, " bytes received");
        reply_error(b, PROTO_E_STATE, b->msg);
        return;
    }
    b->msg[0] = '\0';
    int code = b->be->slot_finish(b->be->ctx, &image, b->msg);
    if (code != 0) {
        reply_error(b, (uint8_t)code, b->msg);
        return;
    }
    uint32_t crc = proto_crc32(0, image, b->load_bytes);
    if (crc != b->load_crc32) {
        reply_error(b, PROTO_E_HASH, "the model read back from the slot does not match its announced CRC-32");
        return;
    }
    code = b->be->model_prepare(b->be->ctx, image, b->load_bytes, &b->model, b->msg);
    if (code != 0) {
        reply_error(b, (uint8_t)code, b->msg);
        return;
    }
    b->model_state = MODEL_READY;
    if (b->model.n_ops > PROTO_MAX_OPS) {
        release_model(b);
        msg_set(b->msg, "the model has ");
        msg_cat_u32(b->msg, b->model.n_ops);
        msg_cat(b->msg, " operators; at most ");
        msg_cat_u32(b->msg, PROTO_MAX_OPS);
        msg_cat(b->msg, " are supported");
        reply_error(b, PROTO_E_OPERATOR, b->msg);
        return;
    }
    uint8_t *p = b->reply + PROTO_HEADER_BYTES;
    proto_put_u32(p, b->load_bytes);
    proto_put_u32(p + 4, crc);
    proto_put_u32(p + 8, b->model.arena_used_bytes);
    proto_put_u16(p + 12, b->model.n_ops);
    reply(b, PROTO_LOAD_OK, 14);
}

static void reply_result_page(board_state *b, uint16_t first) {
    uint32_t record_words = 1u + b->model.n_ops;
    uint32_t count = b->result_repeats - first;
    if (count > PAGE_WORDS / record_words) {
        count = PAGE_WORDS / record_words;
    }
    uint8_t *p = b->reply + PROTO_HEADER_BYTES;
    proto_put_u16(p, b->result_repeats);
    proto_put_u16(p + 2, b->model.n_ops);
    proto_put_u32(p + 4, b->model.arena_used_bytes);
    proto_put_u32(p + 8, b->cold_ticks);
    proto_put_u16(p + 12, first);
    proto_put_u16(p + 14, (uint16_t)count);
    const uint32_t *src = b->results + (uint32_t)first * record_words;
    for (uint32_t i = 0; i < count * record_words; i++) {
        proto_put_u32(p + PROTO_RESULT_HEADER_BYTES + 4u * i, src[i]);
    }
    reply(b, PROTO_RESULT, (uint16_t)(PROTO_RESULT_HEADER_BYTES + 4u * count * record_words));
}

static void do_run(board_state *b, const uint8_t *p) {
    uint16_t warmups = proto_get_u16(p);
    uint16_t repeats = proto_get_u16(p + 2);
    b->result_repeats = 0;
    if (b->model_state != MODEL_READY) {
        reply_error(b, PROTO_E_STATE, "RUN without a model: upload one with LOAD_BEGIN, LOAD_CHUNK, LOAD_END");
        return;
    }
    uint32_t record_words = 1u + b->model.n_ops;
    uint32_t max_repeats = b->result_capacity_words / record_words;
    if (repeats == 0 || repeats > max_repeats) {
        msg_set(b->msg, "repeats=");
        msg_cat_u32(b->msg, repeats);
        msg_cat(b->msg, " is out of range: this model allows 1 to ");
        msg_cat_u32(b->msg, max_repeats);
        reply_error(b, PROTO_E_ARGS, b->msg);
        return;
    }
    uint32_t total = (uint32_t)warmups + repeats;
    b->input_received = 0; /* the fixed pattern replaces any input written with INPUT */
    for (uint32_t i = 0; i < total; i++) {
        /* warm-ups write into record 0, which repeat 0 overwrites */
        uint32_t *record = b->results + (i < warmups ? 0u : (i - warmups) * record_words);
        /* every Invoke sees the same input: TFLM may reuse the input tensor's memory during an Invoke */
        board_fill_input(b->model.input, b->model.input_bytes);
        b->msg[0] = '\0';
        int code = b->be->model_invoke(b->be->ctx, record, record + 1, b->msg);
        if (code != 0) {
            reply_error(b, (uint8_t)code, b->msg);
            return;
        }
        if (i == 0) {
            b->cold_ticks = record[0];
        }
    }
    b->result_repeats = repeats;
    reply_result_page(b, 0);
}

static void do_read_result(board_state *b, const uint8_t *p) {
    uint16_t first = proto_get_u16(p);
    if (b->result_repeats == 0) {
        reply_error(b, PROTO_E_STATE, "READ_RESULT without a result: send RUN first");
        return;
    }
    if (first >= b->result_repeats) {
        msg_set(b->msg, "first_repeat=");
        msg_cat_u32(b->msg, first);
        msg_cat(b->msg, " is out of range: the last run has repeats 0 to ");
        msg_cat_u32(b->msg, b->result_repeats - 1u);
        reply_error(b, PROTO_E_ARGS, b->msg);
        return;
    }
    reply_result_page(b, first);
}

static void do_input(board_state *b, const uint8_t *p, uint16_t len) {
    uint32_t offset = proto_get_u32(p);
    uint16_t n = (uint16_t)(len - 4u);
    if (b->model_state != MODEL_READY) {
        reply_error(b, PROTO_E_STATE, "INPUT without a model: upload one with LOAD_BEGIN, LOAD_CHUNK, LOAD_END");
        return;
    }
    if (offset == 0) {
        b->input_received = 0; /* offset 0 starts the input anew */
    }
    if (offset != b->input_received) {
        msg_set(b->msg, "input offset ");
        msg_cat_u32(b->msg, offset);
        msg_cat(b->msg, " is not the expected offset ");
        msg_cat_u32(b->msg, b->input_received);
        reply_error(b, PROTO_E_OFFSET, b->msg);
        return;
    }
    if ((uint32_t)n > b->model.input_bytes - b->input_received) {
        msg_set(b->msg, "input ends at byte ");
        msg_cat_u32(b->msg, offset + n);
        msg_cat(b->msg, ", past the model's input tensor of ");
        msg_cat_u32(b->msg, b->model.input_bytes);
        msg_cat(b->msg, " bytes");
        reply_error(b, PROTO_E_TOO_LARGE, b->msg);
        return;
    }
    memcpy(b->model.input + offset, p + 4, n);
    b->input_received += n;
    b->input_crc32 = proto_crc32(offset == 0 ? 0u : b->input_crc32, p + 4, n);
    uint8_t *out = b->reply + PROTO_HEADER_BYTES;
    proto_put_u32(out, b->input_received);
    proto_put_u32(out + 4, b->input_crc32);
    reply(b, PROTO_CHUNK_ACK, 8);
}

static void do_infer(board_state *b) {
    if (b->model_state != MODEL_READY) {
        reply_error(b, PROTO_E_STATE, "INFER without a model: upload one with LOAD_BEGIN, LOAD_CHUNK, LOAD_END");
        return;
    }
    if (b->input_received != b->model.input_bytes) {
        msg_set(b->msg, "INFER needs the whole input tensor: ");
        msg_cat_u32(b->msg, b->input_received);
        msg_cat(b->msg, " of ");
        msg_cat_u32(b->msg, b->model.input_bytes);
        msg_cat(b->msg, " bytes were written with INPUT since the last Invoke");
        reply_error(b, PROTO_E_STATE, b->msg);
        return;
    }
    if (b->model.output_bytes > PROTO_MAX_PAYLOAD - 4u) {
        msg_set(b->msg, "the output tensor of ");
        msg_cat_u32(b->msg, b->model.output_bytes);
        msg_cat(b->msg, " bytes does not fit one OUTPUT frame (at most 508 bytes)");
        reply_error(b, PROTO_E_TOO_LARGE, b->msg);
        return;
    }
    uint32_t ticks = 0;
    b->input_received = 0; /* consumed: the Invoke may overwrite the input tensor */
    b->msg[0] = '\0';
    int code = b->be->model_invoke(b->be->ctx, &ticks, 0, b->msg);
    if (code != 0) {
        reply_error(b, (uint8_t)code, b->msg);
        return;
    }
    uint8_t *p = b->reply + PROTO_HEADER_BYTES;
    proto_put_u32(p, ticks);
    memcpy(p + 4, b->model.output, b->model.output_bytes);
    reply(b, PROTO_OUTPUT, (uint16_t)(4u + b->model.output_bytes));
}

/* Payload length each request must have: exact, or [min, max] for LOAD_CHUNK. -1 for unknown types. */
static int payload_ok(uint8_t type, uint16_t len) {
    switch (type) {
    case PROTO_HELLO:
    case PROTO_LOAD_END:
    case PROTO_RESET:
    case PROTO_INFER:
        return len == 0;
    case PROTO_LOAD_BEGIN:
        return len == 8;
    case PROTO_LOAD_CHUNK:
    case PROTO_INPUT:
        return len >= 5;
    case PROTO_RUN:
        return len == 4;
    case PROTO_READ_RESULT:
        return len == 2;
    default:
        return -1;
    }
}

static void dispatch(board_state *b) {
    const proto_decoder *d = &b->dec;
    const uint8_t *p = proto_payload(d);
    uint32_t frame_crc = proto_get_u32(d->buf + PROTO_HEADER_BYTES + d->len);

    if (d->version != b->id->protocol_version) {
        msg_set(b->msg, "board speaks protocol version ");
        msg_cat_u32(b->msg, b->id->protocol_version);
        send_nak(b, d->seq, PROTO_E_VERSION, b->msg);
        return;
    }
    if (d->type == PROTO_RESET) {
        if (d->len != 0) {
            reply_error(b, PROTO_E_PAYLOAD, "RESET takes no payload");
            return;
        }
        reply(b, PROTO_RESET_OK, 0);
        power_on_state(b);
        return;
    }
    if (d->type == PROTO_HELLO && d->len == 0) {
        do_hello(b);
        return;
    }
    if (b->stored && d->seq == b->stored_seq && d->type == b->stored_type && frame_crc == b->stored_crc32) {
        b->be->send(b->be->ctx, b->reply, b->reply_len); /* a retransmission: answer, do not execute */
        return;
    }
    int ok = payload_ok(d->type, d->len);
    if (ok < 0) {
        msg_set(b->msg, "unknown request type ");
        msg_cat_u32(b->msg, d->type);
        reply_error(b, PROTO_E_TYPE, b->msg);
    } else if (!ok) {
        msg_set(b->msg, "a payload of ");
        msg_cat_u32(b->msg, d->len);
        msg_cat(b->msg, " bytes is not valid for request type ");
        msg_cat_u32(b->msg, d->type);
        reply_error(b, PROTO_E_PAYLOAD, b->msg);
    } else if (!b->session) {
        reply_error(b, PROTO_E_NO_SESSION, "no session: send HELLO first (the board restarted or was reset)");
    } else if (d->type == PROTO_LOAD_BEGIN) {
        do_load_begin(b, p);
    } else if (d->type == PROTO_LOAD_CHUNK) {
        do_load_chunk(b, p, d->len);
    } else if (d->type == PROTO_LOAD_END) {
        do_load_end(b);
    } else if (d->type == PROTO_RUN) {
        do_run(b, p);
    } else if (d->type == PROTO_INPUT) {
        do_input(b, p, d->len);
    } else if (d->type == PROTO_INFER) {
        do_infer(b);
    } else {
        do_read_result(b, p);
    }
    /* HELLO with a payload ends here too, answered with ERROR PAYLOAD */
    b->stored = 1;
    b->stored_seq = d->seq;
    b->stored_type = d->type;
    b->stored_crc32 = frame_crc;
}

void board_receive(board_state *b, const uint8_t *data, size_t len, uint32_t now_ms) {
    for (size_t i = 0; i < len; i++) {
        switch (proto_feed(&b->dec, data[i], now_ms)) {
        case PROTO_EV_FRAME:
            dispatch(b);
            break;
        case PROTO_EV_CRC_ERROR:
            send_nak(b, b->dec.seq, PROTO_E_CRC, "frame CRC-32 mismatch");
            break;
        case PROTO_EV_LENGTH_ERROR:
            send_nak(b, b->dec.seq, PROTO_E_LENGTH, "frame length exceeds 512 bytes");
            break;
        default:
            break;
        }
    }
}
