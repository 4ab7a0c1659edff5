/** glibc's malloc_trim(0): true if it gave memory back to the kernel; false, and nothing done, off glibc. */
export function trim (): boolean
/** whether trim() does anything here (glibc) */
export const supported: boolean
