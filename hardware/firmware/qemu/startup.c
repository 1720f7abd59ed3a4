/* Cortex-M start-up for QEMU's MPS2 boards: vector table, reset (FPU on, .data copied, .bss zeroed, C++
 * constructors, main) and a fault handler that stops QEMU with a non-zero status (semihosting). */
#include <stdint.h>
#include <string.h>

#include CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern void __libc_init_array(void);
extern int main(void);
void SysTick_Handler(void);

/* Semihosting SYS_EXIT with ADP_Stopped_RunTimeError: QEMU exits with status 1. */
static void __attribute__((noreturn)) semihosting_fail(void) {
    static const uint32_t block[2] = {0x20023u, 1u};
    register uint32_t op __asm__("r0") = 0x18u;
    register const uint32_t *arg __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : : "r"(op), "r"(arg) : "memory");
    for (;;) {
    }
}

void Fault_Handler(void) { semihosting_fail(); }

void __attribute__((noreturn)) Reset_Handler(void) {
#if defined(__FPU_PRESENT) && (__FPU_PRESENT == 1U)
    SCB->CPACR |= (0xFu << 20); /* CP10, CP11: full access */
    __DSB();
    __ISB();
#endif
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
    __libc_init_array();
    main();
    semihosting_fail();
}

__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler,
    SysTick_Handler,
};
