/* placeholder: vl_open_state is being written (issue 2). */
#include "vmlua.h"

void vl_open_state(lua_State *L)
{
	(void)L;
}
