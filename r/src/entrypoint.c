/* The package's init routine: registers the Rust functions of src/rust (extendr's
   R_init_cartkin_extendr registers .Call routines wrap__rs_*, without dynamic lookup). */
#include <R_ext/Rdynload.h>

void R_init_cartkin_extendr(DllInfo *dll);

void R_init_cartkin(DllInfo *dll) { R_init_cartkin_extendr(dll); }
