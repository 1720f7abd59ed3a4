/* QEMU MPS2 platform layer: CMSDK UART0 (the serial port, on a host pty), CMSDK timer0 (the tick
 * counter, as DWT is not modelled), SysTick milliseconds. Machine values come from the Makefile:
 * QEMU_UART0, QEMU_TIMER0, QEMU_SYSCLK_HZ. */
#ifndef MICRONAS_QEMU_PLATFORM_H
#define MICRONAS_QEMU_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void uart_init(void);
void uart_write(const uint8_t *data, size_t len);
int uart_available(void);
int uart_read(void); /* -1 when no byte is waiting */

uint32_t platform_millis(void);

#ifdef __cplusplus
}
#endif

#endif
