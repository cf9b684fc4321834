/* placeholder: vl_open_daemon is being written (issue 2). */
#include "vmlua.h"

void vl_open_daemon(lua_State *L)
{
	(void)L;
}
