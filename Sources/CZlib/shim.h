#ifndef CBM_CZLIB_SHIM_H
#define CBM_CZLIB_SHIM_H
#include <zlib.h>
#endif
