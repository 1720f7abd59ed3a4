/* micronas benchmark firmware: TFLM with CMSIS-NN kernels behind the micronas serial protocol
 * (hardware/protocol.md). Flashed once; models are uploaded into a model slot and timed with the DWT
 * cycle counter, interrupts off around each Invoke; per-operator ticks come from a
 * tflite::MicroProfilerInterface, so no kernel is patched. Where the DWT does not count (QEMU models
 * none), the platform's timer is used if it provides one (platform_timer_start), and INFO says what the
 * ticks count. TFLM's error messages are kept (RegisterDebugLogCallback) and sent with a failed LOAD.
 *
 * Board-specific values come from platformio.ini (or qemu/Makefile): MICRONAS_BOARD, MICRONAS_CORE,
 * MICRONAS_ARENA_BYTES, MICRONAS_RESULT_WORDS, MICRONAS_SLOT_ADDR, MICRONAS_SLOT_BYTES, MICRONAS_BAUD,
 * MICRONAS_TFLM_VERSION, MICRONAS_CMSIS_NN_VERSION, MICRONAS_BUILD; MICRONAS_SLOT_IN_RAM=1 where the
 * slot is RAM. */
#include <Arduino.h>
#include <string.h>

#include <new>

#include "board.h"
#include "model_slot.h"
#include "protocol.h"
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"

#if defined(TF_LITE_STRIP_ERROR_STRINGS)
#error "TF_LITE_STRIP_ERROR_STRINGS removes TFLM's per-operator profiler events: build without it"
#endif

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#ifndef MICRONAS_SLOT_IN_RAM
#define MICRONAS_SLOT_IN_RAM 0
#endif

/* A platform without a counting DWT may provide a timer: 0 when started, with its rate and unit. */
extern "C" int platform_timer_start(uint32_t *hz, const char **unit) __attribute__((weak));
extern "C" uint32_t platform_timer_ticks(void) __attribute__((weak));

namespace {

uint32_t dwt_cycles() { return DWT->CYCCNT; }

uint32_t (*read_ticks)() = dwt_cycles;

/* The tick counter: the DWT cycle counter (core cycles at SystemCoreClock) if it counts, else the
 * platform's timer; *hz and *unit say what a tick is. */
void tick_counter_start(uint32_t *hz, const char **unit) {
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
#if (__CORTEX_M == 7U)
    DWT->LAR = 0xC5ACCE55u; /* Cortex-M7: unlock the DWT registers */
#endif
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    for (volatile int i = 0; i < 64; i++) {
    }
    *hz = SystemCoreClock;
    *unit = "cycles";
    if (DWT->CYCCNT == 0 && platform_timer_start != nullptr && platform_timer_start(hz, unit) == 0) {
        read_ticks = platform_timer_ticks;
    }
}

inline uint32_t cycles() { return read_ticks(); }

/* TFLM's last error message (MicroPrintf lines), for the reply to a failed LOAD. */
char tflm_log[PROTO_MAX_MESSAGE + 1];

void keep_tflm_log(const char *text) {
    if (text[0] == '\r' || text[0] == '\n') {
        return; /* the line end MicroPrintf sends separately */
    }
    strncpy(tflm_log, text, PROTO_MAX_MESSAGE);
    tflm_log[PROTO_MAX_MESSAGE] = '\0';
}

/* Per-operator cycles: TFLM opens one event per operator during Invoke (ScopedMicroProfiler). */
class CycleProfiler : public tflite::MicroProfilerInterface {
  public:
    void Arm(uint32_t *op_cycles, uint16_t capacity) {
        out_ = op_cycles;
        capacity_ = capacity;
        events_ = 0;
    }
    void Disarm() { out_ = nullptr; }
    uint16_t events() const { return events_; }

    uint32_t BeginEvent(const char *tag) override {
        (void)tag;
        uint32_t handle = events_++;
        if (out_ != nullptr && handle < capacity_) {
            start_[handle] = cycles();
        }
        return handle;
    }

    void EndEvent(uint32_t handle) override {
        uint32_t now = cycles();
        if (out_ != nullptr && handle < capacity_) {
            out_[handle] = now - start_[handle];
        }
    }

  private:
    uint32_t start_[PROTO_MAX_OPS] = {};
    uint32_t *out_ = nullptr;
    uint16_t capacity_ = 0;
    uint16_t events_ = 0;
};

alignas(16) uint8_t tensor_arena[MICRONAS_ARENA_BYTES];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *interpreter = nullptr;
tflite::MicroMutableOpResolver<4> resolver;
CycleProfiler profiler;
uint16_t model_ops = 0;
uint32_t results[MICRONAS_RESULT_WORDS];
board_state board;

void fail(char *msg, const char *text) {
    strncpy(msg, text, PROTO_MAX_MESSAGE);
    msg[PROTO_MAX_MESSAGE] = '\0';
}

void send_bytes(void *ctx, const uint8_t *data, size_t len) {
    (void)ctx;
    Serial.write(data, len);
    Serial.flush();
}

bool registered(tflite::BuiltinOperator op) {
    return op == tflite::BuiltinOperator_CONV_2D || op == tflite::BuiltinOperator_ADD ||
           op == tflite::BuiltinOperator_MEAN || op == tflite::BuiltinOperator_SOFTMAX;
}

void model_release(void *ctx) {
    (void)ctx;
    if (interpreter != nullptr) {
        interpreter->~MicroInterpreter();
        interpreter = nullptr;
    }
}

int model_prepare(void *ctx, const uint8_t *image, uint32_t model_bytes, board_model *out, char *msg) {
    (void)model_bytes;
    model_release(ctx);
    const tflite::Model *model = tflite::GetModel(image);
    if (model->version() != TFLITE_SCHEMA_VERSION || model->subgraphs() == nullptr ||
        model->subgraphs()->size() != 1) {
        fail(msg, "the flatbuffer is not a one-subgraph TFLite model of the schema version this firmware reads");
        return PROTO_E_MODEL;
    }
    const auto *codes = model->operator_codes();
    for (uint32_t i = 0; codes != nullptr && i < codes->size(); i++) {
        const auto *code = codes->Get(i);
        int8_t deprecated = code->deprecated_builtin_code();
        auto op = static_cast<tflite::BuiltinOperator>(
            deprecated > static_cast<int8_t>(code->builtin_code()) ? deprecated : code->builtin_code());
        if (!registered(op)) {
            fail(msg, "the firmware registers only CONV_2D, ADD, MEAN, SOFTMAX, not ");
            strncat(msg, tflite::EnumNameBuiltinOperator(op), PROTO_MAX_MESSAGE - strlen(msg));
            return PROTO_E_OPERATOR;
        }
    }
    interpreter = new (interpreter_storage)
        tflite::MicroInterpreter(model, resolver, tensor_arena, sizeof(tensor_arena), nullptr, &profiler);
    tflm_log[0] = '\0';
    if (interpreter->AllocateTensors() != kTfLiteOk) {
        model_release(ctx);
        fail(msg, "AllocateTensors failed in the " STRINGIFY(MICRONAS_ARENA_BYTES) "-byte arena: ");
        strncat(msg, tflm_log, PROTO_MAX_MESSAGE - strlen(msg));
        return PROTO_E_ARENA;
    }
    TfLiteTensor *input = interpreter->input(0);
    const TfLiteTensor *output = interpreter->output(0);
    model_ops = static_cast<uint16_t>(model->subgraphs()->Get(0)->operators()->size());
    out->arena_used_bytes = static_cast<uint32_t>(interpreter->arena_used_bytes());
    out->n_ops = model_ops;
    out->input = reinterpret_cast<uint8_t *>(input->data.int8);
    out->input_bytes = static_cast<uint32_t>(input->bytes);
    out->output = reinterpret_cast<const uint8_t *>(output->data.int8);
    out->output_bytes = static_cast<uint32_t>(output->bytes);
    return 0;
}

int model_invoke(void *ctx, uint32_t *invoke_cycles, uint32_t *op_cycles, char *msg) {
    (void)ctx;
    profiler.Arm(op_cycles, model_ops);
    __disable_irq();
    uint32_t start = cycles();
    TfLiteStatus status = interpreter->Invoke();
    uint32_t end = cycles();
    __enable_irq();
    profiler.Disarm();
    *invoke_cycles = end - start;
    if (status != kTfLiteOk) {
        fail(msg, "Invoke failed");
        return PROTO_E_INVOKE;
    }
    if (profiler.events() != model_ops) {
        fail(msg, "the profiler saw a different number of operator events than the model has operators");
        return PROTO_E_INVOKE;
    }
    return 0;
}

const board_backend backend = {
    nullptr, send_bytes, slot_erase, slot_write, slot_finish, model_prepare, model_invoke, model_release,
};

board_identity identity = {
    PROTO_VERSION,
    MICRONAS_SLOT_IN_RAM,
    0, /* core_clock_hz: SystemCoreClock, read in setup() */
    0, /* counter_hz: set by tick_counter_start() in setup() */
    sizeof(tensor_arena),
    MICRONAS_SLOT_BYTES,
    MICRONAS_BOARD,
    MICRONAS_CORE,
    "tflite-micro " MICRONAS_TFLM_VERSION,
    "cmsis-nn " MICRONAS_CMSIS_NN_VERSION,
    "gcc " __VERSION__,
    MICRONAS_BUILD,
    nullptr, /* tick_unit: set by tick_counter_start() in setup() */
};

}  // namespace

void setup() {
    Serial.begin(MICRONAS_BAUD);
    RegisterDebugLogCallback(keep_tflm_log);
    tick_counter_start(&identity.counter_hz, &identity.tick_unit);
    identity.core_clock_hz = SystemCoreClock;
    resolver.AddConv2D();
    resolver.AddAdd();
    resolver.AddMean();
    resolver.AddSoftmax();
    board_init(&board, &identity, &backend, results, MICRONAS_RESULT_WORDS);
    /* nothing is printed: the host speaks first (HELLO) */
}

void loop() {
    uint8_t buf[64];
    size_t n = 0;
    while (n < sizeof(buf) && Serial.available() > 0) {
        buf[n++] = static_cast<uint8_t>(Serial.read());
    }
    if (n > 0) {
        board_receive(&board, buf, n, millis());
    }
}
