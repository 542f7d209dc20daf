"""The words the grammar knows: symptoms, negations, commands, and words that are not names.

Vocabulary lists are examples of how teachers write, grouped by meaning; add wordings here,
not special cases in the parser.
"""
from __future__ import annotations

import re

# Symptom codes (CONTRACT.md) → wordings. Display names for replies and digests come first.
SYMPTOM_WORDS: dict[str, tuple[str, ...]] = {
    "fever": ("发热", "发烧", "高烧", "低烧", "高热", "低热", "烧了", "有点烧"),
    "cough": ("咳嗽", "干咳", "咳痰", "咳"),
    "sore_throat": ("咽痛", "喉咙痛", "喉咙疼", "嗓子疼", "嗓子痛", "咽喉痛", "咽喉肿痛", "咽部疼痛",
                    "喉咙不舒服", "嗓子不舒服", "咽干咽痛"),
    "fatigue": ("乏力", "疲乏", "疲劳", "没力气", "浑身无力", "四肢无力", "全身无力"),
    "runny_nose": ("流涕", "流鼻涕", "流清涕", "鼻塞", "鼻涕", "打喷嚏"),
    "diarrhea": ("腹泻", "拉肚子", "拉稀"),
    "vomiting": ("呕吐", "恶心", "想吐", "吐了"),
    "headache": ("头痛", "头疼"),
    "dyspnea": ("呼吸困难", "胸闷", "气促", "气短", "气喘", "喘"),
    "rash": ("皮疹", "出疹", "疹子", "起疹", "红疹", "出疹子", "起红点"),
    "conjunctivitis": ("红眼", "结膜炎", "结膜充血", "眼睛红", "眼红"),
    "loss_of_smell_taste": ("嗅觉减退", "味觉减退", "嗅觉丧失", "味觉丧失", "嗅觉味觉减退",
                            "闻不到味", "没有味觉", "尝不出味"),
    "abdominal_pain": ("腹痛", "肚子疼", "肚子痛", "胃疼", "胃痛"),
    "dizziness": ("头晕", "眩晕", "头昏"),
    "parotid_swelling": ("腮腺肿大", "腮腺炎", "腮帮子肿", "腮腺肿"),
    "jaundice": ("黄疸", "皮肤发黄", "眼睛发黄"),
}

SYMPTOM_NAMES: dict[str, str] = {
    "fever": "发热", "cough": "咳嗽", "sore_throat": "咽痛", "fatigue": "乏力",
    "runny_nose": "流涕", "diarrhea": "腹泻", "vomiting": "呕吐", "headache": "头痛",
    "dyspnea": "呼吸困难", "rash": "皮疹", "conjunctivitis": "结膜炎",
    "loss_of_smell_taste": "嗅觉/味觉减退", "abdominal_pain": "腹痛", "dizziness": "头晕",
    "parotid_swelling": "腮腺肿大", "jaundice": "黄疸",
}

WORD_TO_SYMPTOM = {w: code for code, words in SYMPTOM_WORDS.items() for w in words}
NEGATIONS = ("没有", "否认", "无", "没", "不", "未")
# A negation covers symptoms joined by these; it ends at a clause break.
JOINERS = "、和及或等与/"
CLAUSE_BREAKS = ",;。.!?，；！？\n "

_alternation = "|".join(sorted(map(re.escape, WORD_TO_SYMPTOM), key=len, reverse=True))
SYMPTOM_RE = re.compile(_alternation)
NEGATION_RE = re.compile("|".join(NEGATIONS))
POSTFIX_NEGATION_RE = re.compile(r"^\s*(?::\s*(?:无|没有|否|未见)|\(\s*(?:无|没有|否)\s*\))")

# Commands: the whole message (without spaces and punctuation) is one of these wordings.
COMMAND_WORDS: dict[str, tuple[str, ...]] = {
    "help": ("帮助", "?", "help", "怎么报", "怎么填", "怎么写", "格式", "使用说明", "说明", "菜单",
             "怎么用", "用法", "帮忙"),
    "query": ("查询", "我的记录", "查看记录", "查记录", "记录查询", "我的体温", "查看", "历史记录",
              "我报了吗", "查询记录", "我的报告"),
    "undo": ("撤销", "撤回", "撤销上一条", "撤回上一条", "删除上一条", "取消上一条", "撤销报告",
             "报错了撤销", "撤销上条"),
    "stats": ("统计", "今日统计", "今日情况", "今天情况", "汇总", "今日汇总", "统计数据", "数据统计",
              "今天统计", "查看统计", "情况统计", "本班情况", "全校情况", "全区情况"),
    "unreported": ("谁没报", "谁没有报", "谁还没报", "还有谁没报", "未报", "未报名单", "没报的",
                   "未上报", "谁未报", "哪些人没报", "没报名单", "还有谁没有报", "谁没交", "缺报"),
}
COMMANDS = {w: cmd for cmd, words in COMMAND_WORDS.items() for w in words}

# Words that stand right before a temperature but are not a person's name.
NOT_NAMES = (
    "体温", "温度", "测温", "腋温", "额温", "耳温", "口温", "今日", "今天", "今早", "早上", "上午",
    "中午", "下午", "晚上", "本人", "自己", "我的", "我", "晨检", "午检", "晚检", "早检", "补报",
    "昨天", "前天", "昨日", "目前", "现在", "正常", "收到", "好的", "报告", "上报", "学生", "老师",
    "教师", "全部", "均", "都", "是", "为", "已", "测得", "测量", "结果", "情况", "身体", "孩子",
    "小孩", "宝宝", "家长", "班主任", "一切", "无异常", "良好", "健康", "早晨", "的", "了",
)
NOT_NAMES_BY_LENGTH = tuple(sorted(NOT_NAMES, key=len, reverse=True))
NOT_NAME_RE = re.compile("|".join(map(re.escape, NOT_NAMES_BY_LENGTH)))

# A message that is only "all is well" reports the sender without a temperature.
WELL_WORDS = ("正常", "无异常", "一切正常", "身体正常", "体温正常", "身体健康", "均正常", "良好",
              "无不适", "健康", "没有异常", "未见异常")

# Words of a notice or chatter: a symptom word in such a message is no report.
NOTICE_WORDS = ("请", "各位", "通知", "注意", "大家", "提醒", "务必", "要求", "如有", "如果", "若有",
                "的同学", "的学生", "的老师", "家长们")

SESSION_WORDS = {"晨检": "morning", "早检": "morning", "晨午检": None, "午检": "noon", "午间检": "noon"}

# A name starts with a surname: the common single ones and the compound ones (百家姓).
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                     "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "闻人",
                     "万俟", "澹台", "百里", "呼延", "太史", "申屠", "公羊", "钟离", "第五", "拓跋")
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
    "魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付傅方邹熊白孟秦邱侯江尹薛闫阎段雷龙黎史陶贺毛郝"
    "顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文施洪辛柯庄温牛樊葛邢安齐伍俞易殷申耿关兰焦左柳甘祝"
    "包宁尚符舒阮纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游靳欧管柴蒙鲍华喻祁房滕屈饶解牟艾尤"
    "阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岳景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬"
    "师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕"
    "楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索"
    "宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕"
    "危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由")


def looks_like_name(candidate: str) -> bool:
    if candidate[:2] in COMPOUND_SURNAMES:
        return len(candidate) >= 3
    return candidate[0] in SURNAMES
