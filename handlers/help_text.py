"""The 帮助 reply: what to send, with examples fitting the sender's role (a phone screen)."""

_COMMON = "其他：查询（我的记录）· 撤销（撤回上一条）· 统计 · 谁没报；用自己的话问也行，如：今天报了多少人"

_BY_ROLE = {
    "teacher": [
        "报体温直接发数字：36.5",
        "有症状一起写：37.6 咳嗽 乏力",
        "补报以前的：补报 2月3日 36.5",
        "午检注明：午检 36.6",
    ],
    "head_teacher": [
        "本人体温：36.5",
        "班级情况：三年级2班 应到45 实到44 病假1 发热0",
        "学生体温：张三 36.5，李四 37.6 发热",
        "班级群接龙：整段粘贴过来，每个编号行一人",
        "学生返校：张三 返校",
    ],
    "principal": [
        "本人体温：36.5",
        "代报学生：张三 36.5",
        "代报班级：三年级2班 应到45 实到45 全部正常",
        "查看全校：统计 / 谁没报",
    ],
    "bureau": [
        "全区今日情况：统计",
        "未报学校：谁没报",
        "教育局账号无需报告体温",
    ],
}


def help_text(role: str) -> str:
    lines = ["【晨检】怎么报："]
    examples = _BY_ROLE.get(role)
    if examples is None:
        return ("【晨检】您还不在晨检名单中。请联系班主任或学校管理员把您加入名单，"
                "之后直接发体温即可，例如：36.5")
    lines += [f"· {e}" for e in examples]
    if role != "bureau":
        lines.append("体温34.0–42.5℃，≥37.3℃记为发热。写“无咳嗽”不算症状。")
    lines.append(_COMMON)
    return "\n".join(lines)
