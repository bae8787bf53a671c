/* libserc: the umbrella header. #include <serc/serc.h> and link with `pkg-config --libs serc`. */
#ifndef SERC_H
#define SERC_H

#include "arena.h"
#include "build_info.h"
#include "context.h"
#include "error.h"
#include "ops.h"
#include "params.h"
#include "rng.h"
#include "tensor.h"

#endif
