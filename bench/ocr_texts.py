"""The words drawn on the OCR bench pages, in two disjoint pools.

``TEST`` is the held-out pool that ``python -m bench.ocr`` scores; ``DEV`` is the pool the
layout code was tuned on (``python -m bench.ocr --dev``). No sentence, item or label appears in
both, so tuning on one cannot learn the other's text.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEV", "TEST", "Pool"]


@dataclass(frozen=True)
class Pool:
    english: tuple[str, ...]
    chinese: tuple[str, ...]
    headlines: tuple[str, ...]
    # (Chinese name, English name) of things sold on a receipt.
    items: tuple[tuple[str, str], ...]
    shops: tuple[str, ...]
    # (label, sample values) for forms.
    fields: tuple[tuple[str, tuple[str, ...]], ...]
    # Table headers and, per column, the values a cell may take.
    tables: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...]


TEST = Pool(
    english=(
        "The city council voted on Tuesday to extend the night bus service until two in the morning.",
        "Residents had asked for the change after the last train was moved to an earlier time.",
        "The new timetable starts next month and will be reviewed after a trial of six weeks.",
        "Engineers say the bridge on the east side of the river needs repairs before winter.",
        "Traffic will be diverted through the market street while the work is carried out.",
        "A small bakery near the station has won a national prize for its rye bread.",
        "The owner opened the shop twelve years ago with a single oven and two employees.",
        "Today the bakery sells more than four hundred loaves every morning before nine.",
        "Scientists at the university have measured the fastest glacier melt on record.",
        "Their report shows that the ice shelf lost a tenth of its area in a single summer.",
        "The museum will reopen its western wing after a renovation that lasted three years.",
        "Visitors can see a collection of maps drawn by sailors in the seventeenth century.",
        "Tickets are free for students and for anyone over the age of sixty five.",
        "The local football club signed a young striker from a team in the second league.",
        "He scored nineteen goals last season and is expected to start on Saturday.",
        "Heavy rain is forecast for the weekend, with strong winds along the coast.",
        "Farmers welcomed the news after a long dry spell that damaged the spring crops.",
        "The library has started lending tools, from drills to sewing machines.",
        "Members can borrow up to three items for a week with their usual library card.",
        "A new cycling path will connect the old harbour with the central park by June.",
        "The path is four kilometres long and will be lit at night by solar lamps.",
        "Prices at the farmers market rose slightly this month because of the weather.",
        "Apples and pears were the exception, as the orchards had an excellent harvest.",
        "The school board approved a plan to serve hot lunches in every primary school.",
        "Parents will be asked to pay a small fee, which families on low incomes will not pay.",
        "Volunteers cleaned the beach on Sunday and collected forty bags of plastic waste.",
        "The event was organised by a group of students from the nearby high school.",
        "A jazz festival will take place in the square on the first weekend of August.",
        "Musicians from eleven countries have confirmed that they will perform.",
        "The hospital has opened a second emergency department in the northern district.",
    ),
    chinese=(
        "市政府周二宣布将延长夜间公交服务时间至凌晨两点。",
        "许多居民此前反映末班地铁时间提前给出行带来不便。",
        "新的时刻表将于下月起实施并在试行六周后进行评估。",
        "工程师表示河东侧的大桥需要在冬季到来之前完成维修。",
        "施工期间过往车辆将改道经过市场街通行。",
        "车站附近的一家小面包店凭借黑麦面包获得全国大奖。",
        "店主十二年前开店时只有一台烤箱和两名员工。",
        "如今这家店每天早上九点前能卖出四百多个面包。",
        "大学研究人员测得有记录以来最快的冰川融化速度。",
        "报告显示冰架在一个夏天内就失去了十分之一的面积。",
        "博物馆西翼在历时三年的翻修之后将重新开放。",
        "参观者可以看到十七世纪水手绘制的一批航海地图。",
        "学生和六十五岁以上的老人可以免费领取门票。",
        "本地足球俱乐部从乙级联赛球队签下一名年轻前锋。",
        "他上赛季打进十九球预计将在周六首发出场。",
        "气象台预报周末有大雨沿海地区将出现强风。",
        "农民们对这一消息表示欢迎此前长期干旱影响了春播。",
        "图书馆开始出借工具从电钻到缝纫机应有尽有。",
        "读者凭借书证最多可以借三件工具借期一周。",
        "一条新的自行车道将在六月前连接老港口和中央公园。",
        "这条车道全长四公里夜间由太阳能路灯照明。",
        "受天气影响本月农贸市场的菜价略有上涨。",
        "苹果和梨是例外因为果园今年迎来了大丰收。",
        "教育局批准了在每所小学提供热午餐的计划。",
        "家长需要支付少量费用低收入家庭可以免交。",
        "志愿者周日清理了海滩共收集了四十袋塑料垃圾。",
        "这次活动由附近一所高中的学生自发组织。",
        "八月的第一个周末广场上将举办一场爵士音乐节。",
        "来自十一个国家的音乐人已经确认将参加演出。",
        "医院在城北新开设了第二个急诊科室。",
    ),
    headlines=(
        "Night buses to run until 2 a.m.",
        "Bakery wins national bread prize",
        "夜班公交延长至凌晨两点",
        "博物馆西翼重新开放",
        "Glacier melt breaks records",
        "新自行车道连接老港口",
    ),
    items=(
        ("鲜牛奶", "Fresh Milk"),
        ("全麦面包", "Wholemeal Bread"),
        ("鸡蛋", "Eggs x12"),
        ("苹果", "Apples"),
        ("香蕉", "Bananas"),
        ("大米", "Rice 5kg"),
        ("酸奶", "Yogurt"),
        ("橙汁", "Orange Juice"),
        ("牙膏", "Toothpaste"),
        ("纸巾", "Tissues"),
        ("矿泉水", "Water 6pk"),
        ("咖啡豆", "Coffee Beans"),
        ("西红柿", "Tomatoes"),
        ("洗衣液", "Detergent"),
        ("巧克力", "Chocolate"),
        ("黄油", "Butter"),
    ),
    shops=("华联超市", "FreshMart", "便民小店", "Green Grocer", "永辉生活", "Corner Store"),
    fields=(
        ("姓名", ("张伟", "李娜", "王芳", "刘洋")),
        ("Name", ("Anna Smith", "Tom Brown", "Li Wei", "Maria Garcia")),
        ("电话", ("13812345678", "13698765432", "15011112222")),
        ("Phone", ("+86 21 5555 0101", "+44 20 7946 0958", "555-0199")),
        ("日期", ("2024年3月15日", "2025年11月2日", "2023年7月8日")),
        ("Date", ("12/03/2024", "2025-06-30", "1 May 2023")),
        ("地址", ("上海市静安区南京西路88号", "北京市海淀区中关村大街1号")),
        ("Address", ("12 Park Lane, London", "400 Oak Street, Boston")),
        ("Email", ("anna@example.com", "li.wei@example.org")),
        ("职业", ("工程师", "教师", "医生", "设计师")),
        ("Company", ("Blue River Ltd", "Sunrise Foods", "Orbit Labs")),
        ("备注", ("无", "下午送货", "需要发票")),
    ),
    tables=(
        (
            ("城市", "人口", "面积", "GDP"),
            (
                ("北京", "上海", "广州", "深圳", "成都", "杭州"),
                ("2189万", "2487万", "1881万", "1768万", "2119万", "1237万"),
                ("16410", "6341", "7434", "1997", "14335", "16850"),
                ("4.4万亿", "4.7万亿", "3.0万亿", "3.5万亿", "2.2万亿", "2.0万亿"),
            ),
        ),
        (
            ("Product", "Qty", "Unit", "Amount"),
            (
                ("Laptop", "Monitor", "Keyboard", "Mouse", "Headset", "Webcam"),
                ("1", "2", "3", "5", "10"),
                ("899.00", "249.50", "45.90", "19.99", "79.00"),
                ("899.00", "499.00", "137.70", "99.95", "790.00"),
            ),
        ),
        (
            ("Month", "Sales", "Cost", "Profit"),
            (
                ("January", "February", "March", "April", "May", "June"),
                ("12,400", "15,800", "9,950", "18,300"),
                ("8,100", "9,200", "7,400", "11,000"),
                ("4,300", "6,600", "2,550", "7,300"),
            ),
        ),
    ),
)

DEV = Pool(
    english=(
        "The harbour authority announced a new ferry route to the islands in the south.",
        "Boats will leave every two hours from the pier next to the fish market.",
        "A local theatre group is staging a comedy written by a retired teacher.",
        "The play tells the story of a village that tries to hide its only cow from tax collectors.",
        "The zoo welcomed a pair of red pandas that arrived from a park abroad.",
        "Keepers say the animals are settling in well and eat bamboo twice a day.",
        "Water in the reservoir is at its highest level for a decade after the storms.",
        "Officials asked people to keep saving water despite the good news.",
        "The town hall clock has been repaired and now strikes every hour again.",
        "It had been silent since a lightning strike damaged its gears last spring.",
        "A chess tournament for children drew more than two hundred players this year.",
        "The winner, aged ten, has been playing since she was five years old.",
        "Road works on the ring road will close two lanes during the night.",
        "Drivers are advised to use the northern bypass until the end of the month.",
        "The botanical garden planted a thousand tulips along its main avenue.",
    ),
    chinese=(
        "港务局宣布开通一条前往南部海岛的新渡轮航线。",
        "渡轮每两小时从鱼市旁边的码头出发一班。",
        "本地剧团正在排演一位退休教师创作的喜剧。",
        "动物园迎来了一对从国外公园运来的小熊猫。",
        "饲养员说它们适应得很好每天吃两次竹子。",
        "暴雨过后水库水位达到了十年来的最高点。",
        "官员呼吁市民尽管如此仍要继续节约用水。",
        "市政厅的大钟修好了现在又能每小时报时。",
        "今年的少儿象棋比赛吸引了两百多名选手参加。",
        "环城路施工期间夜间将封闭两条车道。",
        "植物园在主干道两旁种下了一千株郁金香。",
        "这家书店把二楼改成了安静的自习空间。",
        "新开的社区食堂为老人提供优惠午餐。",
        "周末的跳蚤市场上可以淘到不少旧唱片。",
        "地铁三号线的延长段预计明年年底通车。",
    ),
    headlines=(
        "Ferry route to the islands",
        "Red pandas arrive at the zoo",
        "渡轮新航线开通",
        "小熊猫落户动物园",
    ),
    items=(
        ("面粉", "Flour"),
        ("白糖", "Sugar"),
        ("食用油", "Cooking Oil"),
        ("葡萄", "Grapes"),
        ("土豆", "Potatoes"),
        ("洗发水", "Shampoo"),
        ("绿茶", "Green Tea"),
        ("饼干", "Biscuits"),
        ("鸡胸肉", "Chicken Breast"),
        ("奶酪", "Cheese"),
    ),
    shops=("家乐超市", "QuickShop", "Daily Needs"),
    fields=(
        ("性别", ("男", "女")),
        ("Gender", ("Female", "Male")),
        ("城市", ("杭州", "南京", "武汉")),
        ("City", ("Leeds", "Denver", "Osaka")),
        ("编号", ("A-10294", "B-55120")),
        ("Reference", ("REF 7781", "REF 9920")),
        ("邮编", ("200040", "310012")),
        ("Signature", ("J. Doe", "K. Lee")),
    ),
    tables=(
        (
            ("Team", "Won", "Lost", "Points"),
            (
                ("Lions", "Eagles", "Sharks", "Wolves", "Bears"),
                ("12", "9", "7", "5"),
                ("3", "6", "8", "10"),
                ("36", "27", "21", "15"),
            ),
        ),
        (
            ("科目", "成绩", "等级", "教师"),
            (
                ("语文", "数学", "英语", "物理", "化学"),
                ("92", "88", "79", "95", "84"),
                ("优", "良", "中", "优"),
                ("王老师", "李老师", "陈老师", "周老师"),
            ),
        ),
    ),
)
