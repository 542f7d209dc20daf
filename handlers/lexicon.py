"""The words the grammar knows: symptoms, negations, commands, and words that are not names.

Vocabulary lists are examples of how teachers write, grouped by meaning; add wordings here,
not special cases in the parser.
"""
from __future__ import annotations

import re

# Symptom codes (CONTRACT.md) → wordings. Display names for replies and digests come first.
SYMPTOM_WORDS: dict[str, tuple[str, ...]] = {
    "fever": ("发热", "发烧", "高烧", "低烧", "高热", "低热", "烧了", "有点烧", "发高烧", "发低烧"),
    "cough": ("咳嗽", "干咳", "咳痰", "咳"),
    "sore_throat": ("咽痛", "喉咙痛", "喉咙疼", "嗓子疼", "嗓子痛", "咽喉痛", "咽喉肿痛", "咽部疼痛",
                    "喉咙不舒服", "嗓子不舒服", "咽干咽痛", "咽部不适", "咽喉炎", "扁桃体发炎",
                    "扁桃体肿大", "嗓子哑", "声音嘶哑"),
    "fatigue": ("乏力", "疲乏", "疲劳", "没力气", "浑身无力", "四肢无力", "全身无力", "浑身没劲",
                "没精神", "精神差", "精神不好"),
    "runny_nose": ("流涕", "流鼻涕", "流清涕", "鼻塞", "鼻涕", "打喷嚏", "鼻子不通气"),
    "diarrhea": ("腹泻", "拉肚子", "拉稀", "稀便", "大便稀"),
    "vomiting": ("呕吐", "恶心", "想吐", "吐了", "干呕", "反胃"),
    "headache": ("头痛", "头疼"),
    "dyspnea": ("呼吸困难", "胸闷", "气促", "气短", "气喘", "喘", "呼吸急促", "喘不上气", "喘不过气",
                "憋气"),
    "rash": ("皮疹", "出疹", "疹子", "起疹", "红疹", "出疹子", "起红点", "荨麻疹", "水痘", "疱疹"),
    "conjunctivitis": ("红眼", "结膜炎", "结膜充血", "眼睛红", "眼红", "眼睛充血"),
    "loss_of_smell_taste": ("嗅觉减退", "味觉减退", "嗅觉丧失", "味觉丧失", "嗅觉味觉减退",
                            "闻不到味", "没有味觉", "尝不出味", "没有嗅觉", "嗅觉下降", "味觉下降",
                            "吃东西没味"),
    "abdominal_pain": ("腹痛", "肚子疼", "肚子痛", "胃疼", "胃痛", "肚疼", "肚痛"),
    "dizziness": ("头晕", "眩晕", "头昏"),
    "parotid_swelling": ("腮腺肿大", "腮腺炎", "腮帮子肿", "腮腺肿", "腮腺肿痛"),
    "jaundice": ("黄疸", "皮肤发黄", "眼睛发黄", "皮肤黄", "眼白发黄"),
}

# A part of the body, a degree word, and how it feels: 喉咙有点疼, 头有些晕, 眼睛发红, 鼻子堵.
# Each code's parts and feelings are joined by an optional degree word (DEGREES).
DEGREES = ("有点儿", "有一点", "有点", "有些", "一点", "稍微", "稍", "略", "很", "特别", "非常", "比较",
           "还", "也", "总是", "总", "老是", "一直", "偶尔", "微微", "轻微", "轻度", "明显", "还是")
BODY_FEELINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sore_throat": (("喉咙", "嗓子", "咽喉", "咽部", "喉部", "嗓子眼"),
                    ("疼", "痛", "不舒服", "不适", "肿痛", "肿", "发炎", "哑", "痒", "红肿", "干痛")),
    "headache": (("头", "头部", "脑袋"), ("疼", "痛", "胀痛", "胀")),
    "dizziness": (("头", "脑袋"), ("晕", "昏", "发晕", "发昏", "晕乎乎")),
    "abdominal_pain": (("肚子", "腹部", "胃", "小腹", "肚"), ("疼", "痛", "不舒服", "不适", "胀痛")),
    "runny_nose": (("鼻子",), ("堵", "塞", "不通气", "不通", "流水", "流鼻涕")),
    "conjunctivitis": (("眼睛", "双眼", "眼", "眼结膜"), ("发红", "红肿", "充血", "红")),
    "jaundice": (("皮肤", "眼白", "巩膜", "脸色", "眼睛"), ("发黄", "黄")),
    "fatigue": (("浑身", "全身", "四肢", "身上"), ("没劲儿", "没劲", "无力", "乏力", "没力气", "酸痛", "酸软")),
    "parotid_swelling": (("腮腺", "腮帮子", "腮帮", "耳下"), ("肿大", "肿胀", "肿痛", "肿", "疼", "痛")),
    "loss_of_smell_taste": (("嗅觉", "味觉", "嗅觉和味觉", "嗅觉味觉"), ("减退", "下降", "丧失", "失灵", "不灵", "减弱")),
    "rash": (("身上", "皮肤", "脸上", "手上", "背上"), ("起疹子", "起疹", "出疹子", "出疹", "起红点", "长红点",
                                                "起疙瘩", "长疹子")),
}

SYMPTOM_NAMES: dict[str, str] = {
    "fever": "发热", "cough": "咳嗽", "sore_throat": "咽痛", "fatigue": "乏力",
    "runny_nose": "流涕", "diarrhea": "腹泻", "vomiting": "呕吐", "headache": "头痛",
    "dyspnea": "呼吸困难", "rash": "皮疹", "conjunctivitis": "结膜炎",
    "loss_of_smell_taste": "嗅觉/味觉减退", "abdominal_pain": "腹痛", "dizziness": "头晕",
    "parotid_swelling": "腮腺肿大", "jaundice": "黄疸",
}

WORD_TO_SYMPTOM = {w: code for code, words in SYMPTOM_WORDS.items() for w in words}
# Every body wording spelled out (喉咙有点疼 → sore_throat): the table the matcher reads codes from.
BODY_WORD_TO_SYMPTOM = {part + degree + feeling: code
                        for code, (parts, feelings) in BODY_FEELINGS.items()
                        for part in parts for degree in ("",) + DEGREES for feeling in feelings}


def trie_pattern(words, tails: dict[str, str] | None = None) -> str:
    """A regular expression for any of `words`, shaped as a trie so that a search stays fast
    however many words there are, and preferring the longest word at each place. `tails`: after
    such a word, this pattern may follow too (喉咙 + (有点)? + 疼|痛|…)."""
    trie: dict = {}
    for w in list(words) + list(tails or ()):
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        if w in words:
            node[""] = {}
        if tails and w in tails:
            node["\0"] = tails[w]

    def emit(node: dict) -> str:
        alts = [node["\0"]] if "\0" in node else []      # the tail first: it reads further
        singles = []
        for ch in sorted(k for k in node if len(k) == 1 and k != "\0"):
            sub = node[ch]
            if set(sub) == {""}:
                singles.append(re.escape(ch))
            else:
                alts.append(re.escape(ch) + emit(sub))
        if singles:
            alts.append(singles[0] if len(singles) == 1 else "[" + "".join(singles) + "]")
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body
    return emit(trie)


_DEGREE = f"(?:{trie_pattern(DEGREES)})?"
# After a part of the body: a degree word, then how it feels (for trie_pattern's `tails`).
PART_TAILS: dict[str, str] = {}
for _part in {p for parts, _ in BODY_FEELINGS.values() for p in parts}:
    _feelings = {f for parts, feelings in BODY_FEELINGS.values() if _part in parts for f in feelings}
    PART_TAILS[_part] = _DEGREE + trie_pattern(_feelings)
# A symptom as written: a listed word, or a part of the body with how it feels.
SYMPTOM_RE = re.compile(trie_pattern(WORD_TO_SYMPTOM, PART_TAILS))
SYMPTOM_WORD_RE = re.compile(trie_pattern(WORD_TO_SYMPTOM))   # the listed words only


# Negation (CONTRACT.md): 无 / 没有 / 不 / 未 / 否认 cover the symptoms that follow, joined by
# JOINERS; FILLERS may stand between the negation and the first symptom (没有出现发热, 无明显咳嗽).
NEGATIONS = ("没有", "否认", "无", "没", "不", "未")
JOINERS = frozenset("、和及或等与/跟以者")
FILLERS = frozenset("有感到点些出现伴症状的见明显任何其他过发生")
# The same as words, for telling them from names (明显 and 任何 begin like names).
FILLER_WORDS = ("有", "有点", "有些", "感到", "感觉", "出现", "出现过", "伴有", "伴", "症状", "明显",
                "任何", "其他", "其它", "发生", "见", "的", "等", "等症状", "均", "都", "也", "已", "经常",
                "偶尔", "时有", "略有", "稍有", "轻微")
# After symptoms: 咳嗽：无, 咳嗽（无）, 咳嗽无, 发热咳嗽等症状均无, 咳嗽已好 (no longer there).
# The spaces are taken whole (`\s*+`): no word here starts with one, and giving them back one at
# a time only made a failing match slow.
POSTFIX_NEGATION_RE = re.compile(
    r"\s*+(?:\(\s*+(?:无|没有|否|未见|-)\s*+\)"
    r"|(?:等)?(?:症状|不适|情况|表现)?\s*+:?\s*+(?:均|都|皆|全|也|亦)?\s*+"
    r"(?:无|没有|否|未见|未出现|未发现|不明显|已经?(?:好|痊愈|康复|消失)了?|(?:痊愈|康复|消失|好)了)"
    r"(?![\u4e00-\u9fff])"
    r")")

# Commands: the whole message (without spaces and punctuation) is one of these wordings,
# possibly with a polite head (请, 帮我, 麻烦) or tail (一下, 吧, 谢谢).
COMMAND_WORDS: dict[str, tuple[str, ...]] = {
    "help": ("帮助", "?", "help", "怎么报", "怎么填", "怎么写", "格式", "使用说明", "说明", "菜单",
             "怎么用", "用法", "帮忙", "怎么报体温", "如何上报", "如何报", "怎么上报", "如何报体温",
             "怎么上报体温", "报体温格式", "上报格式", "填报格式", "怎么发", "发什么", "使用帮助",
             "操作说明"),
    "query": ("查询", "我的记录", "查看记录", "查记录", "记录查询", "我的体温", "查看", "历史记录",
              "我报了吗", "查询记录", "我的报告", "查询我的记录", "查看我的记录", "查我的记录",
              "查一下", "查查", "我的上报记录", "上报记录", "我今天报了吗", "报了吗", "查看体温记录",
              "体温记录"),
    "undo": ("撤销", "撤回", "撤销上一条", "撤回上一条", "删除上一条", "取消上一条", "撤销报告",
             "报错了撤销", "撤销上条", "撤回上条", "删除上条", "撤销刚才的", "撤回刚才的",
             "撤销刚才那条", "撤回刚才那条", "撤回报告", "删除报告", "作废"),
    "stats": ("统计", "今日统计", "今日情况", "今天情况", "汇总", "今日汇总", "统计数据", "数据统计",
              "今天统计", "查看统计", "情况统计", "本班情况", "全校情况", "全区情况", "今天情况怎么样",
              "今日情况怎么样", "今天的情况", "今日数据", "今天数据", "全校统计", "本班统计",
              "班级情况", "汇总情况", "今日汇总情况"),
    "unreported": ("谁没报", "谁没有报", "谁还没报", "还有谁没报", "未报", "未报名单", "没报的",
                   "未上报", "谁未报", "哪些人没报", "没报名单", "还有谁没有报", "谁没交", "缺报",
                   "还有哪些人没报", "哪些人还没报", "没报的有谁", "谁还没有报", "未报人员",
                   "未上报名单", "未报告", "谁没上报", "谁还没上报", "还有谁没上报", "哪些人未报",
                   "没报的人", "谁没报体温"),
}
COMMANDS = {w: cmd for cmd, words in COMMAND_WORDS.items() for w in words}
COMMAND_HEADS = ("请问", "请", "帮我", "麻烦", "我要", "我想", "我想要", "能否", "可以", "发错了",
                 "报错了", "写错了", "填错了", "不好意思", "老师")
COMMAND_TAILS = ("一下", "下", "吧", "呢", "呀", "啊", "哈", "谢谢", "请问", "了", "哦", "嘛")

# Words that stand right before a temperature but are not a person's name.
NOT_NAMES = (
    "体温", "温度", "测温", "腋温", "额温", "耳温", "口温", "今日", "今天", "今早", "早上", "上午",
    "中午", "下午", "晚上", "本人", "自己", "我的", "我", "晨检", "午检", "晚检", "早检", "补报",
    "昨天", "前天", "昨日", "目前", "现在", "正常", "收到", "好的", "报告", "上报", "学生", "老师",
    "教师", "全部", "均", "都", "是", "为", "已", "测得", "测量", "结果", "情况", "身体", "孩子",
    "小孩", "宝宝", "家长", "班主任", "一切", "无异常", "良好", "健康", "早晨", "的", "了", "同学",
    "小朋友", "返校", "已返校", "病愈", "复课", "到校", "谢谢", "明白", "知道", "您好", "你好",
    "晨午检", "午间检", "何时", "何日", "哪天", "什么时候", "是否", "能否", "可否", "全员", "全班",
    "全体", "安全", "平安", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "周天", "周末",
    "下周", "本周", "上周", "星期",
    # what a check saw or did not see (未见咳嗽 is no person named 未见)
    "未见", "未发现", "未出现", "未有", "见", "可见", "出现", "发现", "伴有", "伴",
    # greetings, times of day, how and when it was measured, corrections
    "老师好", "早上好", "上午好", "大家好", "早安", "您好老师", "老师您好", "各位老师", "各位", "大家",
    "明天", "后天", "今晚", "昨晚", "今晨", "夜里", "半夜", "凌晨", "早晨起床", "起床后", "起床",
    "晨起", "出门前", "上学前", "早饭后", "饭后", "饭前", "睡前", "刚才", "刚刚", "最新", "最近",
    "一直", "还是", "仍然", "依然", "测了", "量了", "测的", "量的", "刚测", "刚量", "在家",
    "家里", "腋下", "额头", "耳朵", "口腔", "水银", "电子", "体温计", "温度计", "实测", "复测", "再测",
    "重测", "又测", "第一次", "第二次", "更正", "修改", "改为", "改成", "应为", "重报", "纠正", "更新",
    "补充", "汇报", "回复", "已报", "已测", "报", "测", "量", "我家", "我们", "本班", "班级", "全校",
    "宝贝", "儿子", "女儿", "闺女", "学生本人", "本人体温", "接龙", "例", "示例", "格式", "姓名", "名字",
    # relations after (or before) a child's name: 孟华妈妈 36.7 reports 孟华
    "妈妈", "爸爸", "家长", "母亲", "父亲", "爷爷", "奶奶", "外公", "外婆", "姥姥", "姥爷", "哥哥",
    "姐姐", "监护人", "的妈妈", "的爸爸", "的家长", "妈", "爸", "代报",
    # how a sick child is: 感冒发烧, 已就医, 在家休息
    "感冒", "生病", "不舒服", "身体不适", "就医", "已就医", "就诊", "已就诊", "住院", "看病", "休息",
    "在家休息", "居家", "请假", "病假", "事假", "缺勤", "其余", "其他", "其它", "其中", "以上", "以下",
)
# Words a name ends with that say who wrote for the child, not who the child is.
RELATIONS = ("妈妈", "爸爸", "家长", "母亲", "父亲", "爷爷", "奶奶", "外公", "外婆", "姥姥", "姥爷",
             "哥哥", "姐姐", "监护人", "妈", "爸")
# Characters that (but for a surname at the head) stand in no one's name: 测的, 在家, 报了.
NOT_NAME_CHARS = frozenset("的了吗呢吧啊呀哦嘛么测量是在很都也还就又被把从给让请您你我他她它们这哪啥怎谁报过着")
# Latin words that stand before a reading but are nobody's name.
LATIN_NOT_NAMES = frozenset({"ok", "okay", "am", "pm", "hi", "hello", "temp", "t", "c", "f", "no",
                             "yes", "normal", "fine", "good", "me", "my", "i", "id", "tel", "qq"})
# A message that is only "all is well" reports the sender without a temperature.
WELL_WORDS = ("正常", "无异常", "一切正常", "身体正常", "体温正常", "身体健康", "均正常", "良好",
              "无不适", "健康", "没有异常", "未见异常", "一切良好", "身体良好", "无症状", "无任何不适",
              "无任何症状", "均无异常", "一切安好", "安好", "无恙")
# After a name, without a temperature: the student is back (返校) or well.
STATE_WORDS = ("已返校", "返校", "病愈返校", "已复课", "复课", "已到校", "到校", "康复", "痊愈", "已康复",
               "已痊愈") + WELL_WORDS

# Words of the lexicon that begin like a name (明显, 全身, 安好, 康复) are no names either.
NOT_NAMES = NOT_NAMES + tuple(dict.fromkeys(
    w for w in (*DEGREES, *FILLER_WORDS, *STATE_WORDS, *(p for ps, _ in BODY_FEELINGS.values() for p in ps))
    if len(w) > 1 and w not in NOT_NAMES))

# Words of a notice or chatter: a symptom word in such a message is no report.
NOTICE_WORDS = ("请", "各位", "通知", "注意", "大家", "提醒", "务必", "要求", "如有", "如果", "若有",
                "的同学", "的学生", "的老师", "家长们", "防止", "预防", "避免", "是否", "吗")

SESSION_WORDS = {"晨午检": None, "晨检": "morning", "早检": "morning", "午检": "noon", "午间检": "noon"}

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
