/* The smallest program: the console and the exit status. */
#include "rt.h"

int main(void)
{
    rt_printf("hello from s390x, DAT on, %d + %d = %d\n", 2, 3, 2 + 3);
    return 7;
}
