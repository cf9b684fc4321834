/* placeholder: vl_open_signal is being written (issue 2). */
#include "vmlua.h"

void vl_open_signal(lua_State *L)
{
	(void)L;
}
