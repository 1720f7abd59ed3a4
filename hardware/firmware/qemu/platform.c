/* QEMU MPS2 platform layer (platform.h). */
#include "platform.h"

#include CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE

typedef struct {
    volatile uint32_t data;
    volatile uint32_t state; /* bit 0: TX full, bit 1: RX full */
    volatile uint32_t ctrl;  /* bit 0: TX enable, bit 1: RX enable */
    volatile uint32_t intstatus;
    volatile uint32_t bauddiv;
} cmsdk_uart;

typedef struct {
    volatile uint32_t ctrl; /* bit 0: enable */
    volatile uint32_t value; /* counts down at the system clock */
    volatile uint32_t reload;
    volatile uint32_t intstatus;
} cmsdk_timer;

#define UART0 ((cmsdk_uart *)QEMU_UART0)
#define TIMER0 ((cmsdk_timer *)QEMU_TIMER0)

/* Under `-icount shift=0` one guest instruction is 1 ns of virtual time, so a timer tick at the system
 * clock is this many instructions. The host (micronas.hardware.qemu) always starts QEMU that way;
 * without -icount the timer follows host wall time and these counts mean nothing. */
#define INSTRUCTIONS_PER_TICK (1000000000u / QEMU_SYSCLK_HZ)

uint32_t SystemCoreClock = QEMU_SYSCLK_HZ;
static volatile uint32_t millis_count;

void SysTick_Handler(void) { millis_count++; }

void uart_init(void) {
    UART0->bauddiv = 16u; /* the model ignores the rate, but refuses a divider below 16 */
    UART0->ctrl = 3u;
    SysTick_Config(QEMU_SYSCLK_HZ / 1000u);
}

void uart_write(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        while (UART0->state & 1u) {
        }
        UART0->data = data[i];
    }
}

int uart_available(void) { return (UART0->state & 2u) ? 1 : 0; }

int uart_read(void) { return (UART0->state & 2u) ? (int)(UART0->data & 0xFFu) : -1; }

uint32_t platform_millis(void) { return millis_count; }

/* main.cpp's fallback counter where the DWT does not count (board.h: counter_hz, tick_unit). */
int platform_timer_start(uint32_t *hz, const char **unit) {
    TIMER0->ctrl = 0u;
    TIMER0->reload = 0xFFFFFFFFu;
    TIMER0->value = 0xFFFFFFFFu;
    TIMER0->ctrl = 1u;
    *hz = 1000000000u; /* instructions per second of virtual time */
    *unit = "instructions";
    return 0;
}

uint32_t platform_timer_ticks(void) { return (0xFFFFFFFFu - TIMER0->value) * INSTRUCTIONS_PER_TICK; }
