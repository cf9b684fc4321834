/* placeholder: vl_open_wait is being written (issue 2). */
#include "vmlua.h"

void vl_open_wait(lua_State *L)
{
	(void)L;
}
