#include "pt_test.h"
