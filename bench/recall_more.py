"""The enlarged recall set: 60 more conversations, natural questions, unrelated questions.

:data:`STORE` is the 100 conversations of :mod:`bench.recall_set` plus 60 more whose topics
overlap them (a second Starbucks receipt, another parking sign, more tickets, menus, math
homework, screenshots) and long-lived facts a user comes back for (the router password, a
medicine's dose, a locker code). :data:`QUESTIONS` are 110 questions as a user would ask
them in a new conversation, about one stored conversation each, paraphrased (none quotes its
target), a third cross-lingual. :data:`UNRELATED` are questions about topics no stored
conversation touches (instruments, sport, art, animals, landscapes), many in the generic
wording of a question about a new image ("this image", "照片里").

Both are split into a development part (used to calibrate the recall gate) and a held-out
part (used only to report it): :func:`dev` and :func:`held_out`. Written by hand for kanjian.
"""

from __future__ import annotations

from typing import NamedTuple

from bench.recall_set import CONVERSATIONS, Conversation, Query

__all__ = ["MORE", "QUESTIONS", "STORE", "UNRELATED", "Unrelated", "dev", "held_out"]

C = Conversation
MORE: list[Conversation] = [
    # menus
    C(
        "n01",
        "What vegetarian dishes are on this Thai menu?",
        "Pad thai with tofu, green curry with vegetables and mango sticky rice; the green curry is marked spicy.",
        "GREEN CURRY 14 PAD THAI 13 MANGO STICKY RICE 8",
    ),
    C(
        "n02",
        "How much is the brunch set at this cafe?",
        "The weekend brunch set is $18 with eggs benedict, a side salad and coffee.",
    ),
    C(
        "n03",
        "这家面馆的菜单上最贵的是什么？",
        "最贵的是牛肉面加卤蛋，38 元；清汤面只要 15 元。",
        "牛肉面 38 清汤面 15",
    ),
    C("n04", "菜单上有没有不辣的菜？", "有，清蒸鲈鱼和番茄炒蛋都不辣，水煮鱼是辣的。"),
    # tickets
    C(
        "n05",
        "What time does the concert on this ticket start?",
        "Coldplay at Wembley Stadium: doors open 5:30pm, the show starts at 7:45pm, block 112 row K.",
        "COLDPLAY WEMBLEY BLOCK 112 ROW K",
    ),
    C(
        "n06",
        "Which seat is on this movie ticket?",
        "Dune Part Two on the IMAX screen 3, seat F14, Saturday 9:10pm.",
    ),
    C("n07", "这张电影票是几点的？", "《流浪地球2》，晚上七点半，5 号厅 8 排 6 座。"),
    C(
        "n08",
        "故宫门票上写的参观日期是哪天？",
        "参观日期是 2024 年 5 月 2 日上午场，需携带身份证。",
        "故宫博物院 门票",
    ),
    C(
        "n09",
        "Is my Amtrak ticket refundable?",
        "The Amtrak Saver fare from New York to Washington departing 8:05am is non-refundable.",
    ),
    C("n10", "这张机票的登机口是几号？", "东航 MU5101 上海虹桥飞北京首都，登机口 15，座位 22A。"),
    # math homework
    C(
        "n11",
        "Solve the equation on the whiteboard.",
        "x^2 - 5x + 6 = 0 factors as (x - 2)(x - 3), so x = 2 or x = 3.",
    ),
    C(
        "n12",
        "What is the integral in my homework photo?",
        "The integral of x e^x dx is (x - 1) e^x + C, by integration by parts.",
    ),
    C("n13", "这道几何题的三角形面积是多少？", "底边 8 厘米、高 5 厘米，面积是 20 平方厘米。"),
    C("n14", "帮我检查这道分数加法。", "三分之一加四分之一等于十二分之七，你写的七分之二是错的。"),
    C(
        "n15",
        "What's the derivative in this calculus problem?",
        "The derivative of sin(x) cos(x) is cos(2x).",
    ),
    # screenshots
    C(
        "n16",
        "What does this error message on my laptop mean?",
        "It says the disk is full: drive C has 0 bytes free; delete files or empty the recycle bin.",
        "Low Disk Space",
    ),
    C(
        "n17",
        "Did my bank transfer go through?",
        "Yes, the transfer of $2,400 to Jordan Lee with reference rent-May is completed.",
    ),
    C("n18", "这个微信截图里他说几点见面？", "他说明天下午三点在星巴克门口见。"),
    C("n19", "手机设置截图里的存储空间还剩多少？", "存储空间还剩 12.4 GB，照片占了 58 GB。"),
    C(
        "n20",
        "What's my step count in this fitness app screenshot?",
        "You walked 11,240 steps, 8.3 km, and burned 420 calories on Sunday.",
    ),
    # long-lived facts
    C(
        "n21",
        "What's the wifi password on the router sticker?",
        "The network is NETGEAR-57 and the password printed on the sticker is purple-cactus-219.",
        "SSID NETGEAR-57 KEY purple-cactus-219",
    ),
    C("n22", "Read the license plate of my new car.", "The plate reads 7KJL392, California."),
    C(
        "n23",
        "What's the dosage on my blood pressure medicine label?",
        "Lisinopril 10 mg, one tablet every morning; 3 refills remaining.",
        "LISINOPRIL 10MG",
    ),
    C("n24", "孩子的课程表周三下午是什么课？", "周三下午是美术和体育，第七节是课外活动。"),
    C("n25", "血压计上显示的读数是多少？", "收缩压 138，舒张压 88，心率 72，略高。"),
    C(
        "n26",
        "When does my car insurance renew?",
        "The Geico policy renews on 1 October; the premium is $1,140 for six months.",
    ),
    C("n27", "快递柜的取件码是多少？", "取件码是 682145，丰巢快递柜，请在 24 小时内取件。"),
    C("n28", "What's written on my gym locker tag?", "Locker 214, combination 31-07-22."),
    C(
        "n29",
        "这张信用卡账单的还款日是哪天？",
        "招商银行信用卡本期应还 3560 元，最后还款日是 15 号。",
    ),
    C(
        "n30",
        "What's the serial number on the back of the TV?",
        "Samsung model UN55TU7000, serial 0B7C3CAN500123.",
    ),
    # overlapping the first hundred: receipts, signs, charts, documents, photos
    C(
        "n31",
        "What did I get at Starbucks this morning?",
        "A cold brew and an egg sandwich, $9.85 at Starbucks.",
        "STARBUCKS COLD BREW EGG SANDWICH 9.85",
    ),
    C(
        "n32",
        "How much did I spend at Costco?",
        "The Costco total is $212.48: paper towels, salmon, a rotisserie chicken and a case of water.",
    ),
    C("n33", "这张加油小票加了多少升？", "中石化 92 号汽油 40.5 升，共 310 元。"),
    C("n34", "外卖小票上有几道菜？", "美团外卖三道菜：宫保鸡丁、酸辣土豆丝和米饭，合计 58 元。"),
    C(
        "n35",
        "What does the sign in the parking garage say about fees?",
        "The first hour is free, then $3 per hour, at most $24 per day; a lost ticket costs $30.",
    ),
    C("n36", "停车场的收费标准是什么？", "首小时 10 元，之后每小时 5 元，每天封顶 60 元。"),
    C(
        "n37",
        "What are the pool rules on this sign?",
        "No diving in the shallow end, children under 12 must be supervised, and the pool closes at 9pm.",
    ),
    C(
        "n38",
        "景区告示牌上写的开放时间？",
        "黄山风景区开放时间 6:30 到 17:30，索道 16:30 停止售票。",
    ),
    C(
        "n39",
        "What does the chart of my electricity usage show?",
        "Usage peaked in August at 910 kWh because of air conditioning and was lowest in April.",
    ),
    C(
        "n40",
        "这张体重变化图说明了什么？",
        "三个月体重从 78 公斤降到 71 公斤，下降最快的是第一个月。",
    ),
    C(
        "n41",
        "What does this budget chart say about groceries?",
        "Groceries are 18% of monthly spending, second after rent at 40%.",
    ),
    C("n42", "股票走势图上这只股票涨了多少？", "贵州茅台本月上涨 6%，成交量放大。"),
    C(
        "n43",
        "What are the terms of my car loan letter?",
        "A 60-month auto loan of $24,000 at 5.9% APR; the payment is $463 per month.",
    ),
    C("n44", "保修卡上写的保修期是多久？", "这台海尔冰箱整机保修三年，压缩机保修十年。"),
    C(
        "n45",
        "What vaccines are on my dog's vaccination record?",
        "Rabies was given on 12 May 2023 and is due again in May 2026; the DHPP booster is due next January.",
    ),
    C("n46", "孩子的疫苗接种本下一针是什么？", "下一针是麻腮风疫苗，预约在 6 月 18 日。"),
    C(
        "n47",
        "What does the parking ticket on my windshield say?",
        "A $65 citation for an expired meter on Elm Street, payable within 21 days.",
    ),
    C("n48", "这张罚单罚了多少钱？", "超速不到百分之二十，罚款 200 元，记 3 分。"),
    C(
        "n49",
        "What plant is this on my balcony?",
        "It's a monstera deliciosa; the yellow leaves suggest overwatering.",
    ),
    C("n50", "这只鸟是什么鸟？", "这是一只白头鹎，常见于南方城市的公园。"),
    C(
        "n51",
        "What's the damage on my bike in this photo?",
        "The rear derailleur is bent and the chain has come off.",
    ),
    C("n52", "照片里的蛋糕上写了什么字？", "蛋糕上写着生日快乐小雨六岁，是草莓奶油蛋糕。"),
    C(
        "n53",
        "What's the expiry date on this milk carton?",
        "Best before 14 June; it's 2% reduced-fat milk from Horizon.",
    ),
    C("n54", "这盒药的有效期到什么时候？", "这盒阿莫西林的有效期至 2025 年 3 月。"),
    C(
        "n55",
        "What's the address on this wedding invitation?",
        "The ceremony is at St. Mary's Church, 45 Oak Avenue, Portland, on 21 September at 3pm.",
    ),
    C("n56", "这张请柬上的婚礼在哪里举行？", "婚礼在杭州西湖国宾馆举行，十月二日中午十二点。"),
    C(
        "n57",
        "How long is the return window on this IKEA receipt?",
        "IKEA takes returns within 365 days; you bought a Billy bookcase for $79.",
    ),
    C("n58", "这张水费单用了多少吨水？", "本期用水 14 吨，水费 49 元。"),
    C(
        "n59",
        "What's the Python error in this screenshot?",
        "KeyError: 'user_id' on line 42 of app.py; the dictionary has no user_id key.",
    ),
    C("n60", "这张截图里的火车是否晚点？", "G102 次列车晚点 25 分钟，预计 10:40 到达南京南站。"),
]
STORE: list[Conversation] = [*CONVERSATIONS, *MORE]

Q = Query
QUESTIONS: list[Query] = [
    # English -> English
    Q("Remind me what the network key on my router label was.", "n21", "en"),
    Q("Which medicine for blood pressure am I on, and how many milligrams?", "n23", "en"),
    Q("What was the number plate of the car I bought?", "n22", "en"),
    Q("How much did the Costco run cost in the end?", "n32", "en"),
    Q("When is the premium due again on my auto insurance?", "n26", "en"),
    Q("What combination opens my locker at the gym?", "n28", "en"),
    Q("Which row and block were our Coldplay seats in?", "n05", "en"),
    Q("Is the Amtrak fare to DC one I can get money back on?", "n09", "en"),
    Q("What were the roots of that quadratic on the whiteboard?", "n11", "en"),
    Q("What answer did we get for integrating x e^x?", "n12", "en"),
    Q("How full was my laptop's drive in that warning?", "n16", "en"),
    Q("Did the rent money reach Jordan?", "n17", "en"),
    Q("How many steps did I walk on Sunday according to the app?", "n20", "en"),
    Q("What does the garage charge if I lose my parking stub?", "n35", "en"),
    Q("At what time does the swimming pool close?", "n37", "en"),
    Q("Which month did my power consumption peak?", "n39", "en"),
    Q("What share of my spending goes to food shopping?", "n41", "en"),
    Q("What's the monthly payment on the auto loan?", "n43", "en"),
    Q("When is my dog's next rabies shot due?", "n45", "en"),
    Q("How much is the fine for the expired meter?", "n47", "en"),
    Q("Why are my monstera's leaves turning yellow?", "n49", "en"),
    Q("What's broken on my bicycle?", "n51", "en"),
    Q("Where is the church for the September wedding?", "n55", "en"),
    Q("Can I still return the Billy bookcase?", "n57", "en"),
    Q("Which key was missing in the Python traceback?", "n59", "en"),
    Q("How much tax was on my Walmart shopping?", "r02", "en"),
    Q("How many gallons did I pump at the Shell station?", "r03", "en"),
    Q("Where were we told the Boston train departs?", "s06", "en"),
    Q("What is the speed limit near the school?", "s07", "en"),
    Q("How much is my rent under the apartment lease?", "d01", "en"),
    Q("What antibiotic did the doctor prescribe me, and how often?", "d03", "en"),
    Q("Which seat did I have on the flight to Shanghai?", "d10", "en"),
    Q("Is the red and white spotted mushroom edible?", "p08", "en"),
    Q("When does the bakery open on weekends?", "s04", "en"),
    Q("What's the serial of my Samsung TV?", "n30", "en"),
    Q("Was the Thai green curry spicy?", "n01", "en"),
    Q("What does the weekend brunch deal include?", "n02", "en"),
    Q("Which IMAX seat did I book for Dune?", "n06", "en"),
    Q("What's the derivative of sin x cos x we worked out?", "n15", "en"),
    # Chinese -> Chinese
    Q("那家面馆牛肉面卖多少钱？", "n03", "zh"),
    Q("上次那家店哪些菜是不辣的？", "n04", "zh"),
    Q("流浪地球那场电影在几号厅？", "n07", "zh"),
    Q("去故宫那天要带什么证件？", "n08", "zh"),
    Q("飞北京那班东航在哪个口登机？", "n10", "zh"),
    Q("那道三角形的题面积算出来多少？", "n13", "zh"),
    Q("三分之一加四分之一到底等于几？", "n14", "zh"),
    Q("他约我明天几点在哪见面？", "n18", "zh"),
    Q("手机照片占了多大空间？", "n19", "zh"),
    Q("周三下午孩子上什么课？", "n24", "zh"),
    Q("我上次量的血压高不高？", "n25", "zh"),
    Q("丰巢快递柜取件密码多少？", "n27", "zh"),
    Q("招行信用卡这期要还多少？", "n29", "zh"),
    Q("上次加了多少升92号油？", "n33", "zh"),
    Q("美团外卖那单点了哪些菜？", "n34", "zh"),
    Q("停车场一天最多收多少钱？", "n36", "zh"),
    Q("黄山索道几点停止售票？", "n38", "zh"),
    Q("三个月我减了几公斤？", "n40", "zh"),
    Q("茅台这个月涨幅多少？", "n42", "zh"),
    Q("海尔冰箱压缩机保修几年？", "n44", "zh"),
    Q("孩子下一针疫苗打什么？", "n46", "zh"),
    Q("超速那张罚单扣了几分？", "n48", "zh"),
    Q("公园里拍到的那只鸟叫什么？", "n50", "zh"),
    Q("小雨生日蛋糕上写的什么？", "n52", "zh"),
    Q("阿莫西林什么时候过期？", "n54", "zh"),
    Q("西湖边的婚礼是几点开始？", "n56", "zh"),
    Q("这期水费用水几吨？", "n58", "zh"),
    Q("去南京南的高铁晚点多久？", "n60", "zh"),
    Q("在永辉买牛奶鸡蛋花了多少？", "r11", "zh"),
    Q("北京南到上海虹桥我坐几车几座？", "r13", "zh"),
    Q("海底捞那顿每人摊多少？", "r18", "zh"),
    Q("顺丰快递单号是多少？", "r19", "zh"),
    Q("哪个城市PM2.5最高？", "c14", "zh"),
    Q("我的空腹血糖是多少？", "d14", "zh"),
    Q("多肉多久浇一次水？", "p17", "zh"),
    # cross-lingual: Chinese -> English conversation
    Q("路由器贴纸上的无线网络密码是什么？", "n21", "cross"),
    Q("我的降压药每天吃几片？", "n23", "cross"),
    Q("我新车的车牌号码是多少？", "n22", "cross"),
    Q("在好市多一共花了多少钱？", "n32", "cross"),
    Q("健身房储物柜的密码是多少？", "n28", "cross"),
    Q("酷玩乐队演唱会几点开始？", "n05", "cross"),
    Q("那个一元二次方程的解是多少？", "n11", "cross"),
    Q("笔记本电脑磁盘空间不足怎么办？", "n16", "cross"),
    Q("房租转账成功了吗？", "n17", "cross"),
    Q("星期天我走了多少步？", "n20", "cross"),
    Q("游泳池几点关门？", "n37", "cross"),
    Q("汽车贷款每个月还多少？", "n43", "cross"),
    Q("狗的狂犬疫苗什么时候到期？", "n45", "cross"),
    Q("宜家书架可以退货吗？", "n57", "cross"),
    Q("从机场打车到市区花了多少钱？", "r06", "cross"),
    Q("医生开的抗生素一天吃几次？", "d03", "cross"),
    Q("去上海的航班座位号是多少？", "d10", "cross"),
    Q("录用通知书上的年薪是多少？", "d04", "cross"),
    # cross-lingual: English -> Chinese conversation
    Q("How much was the beef noodle soup at the noodle shop?", "n03", "cross"),
    Q("What time was the Wandering Earth movie?", "n07", "cross"),
    Q("Which gate for the China Eastern flight to Beijing?", "n10", "cross"),
    Q("What's the area of that triangle geometry problem?", "n13", "cross"),
    Q("What time is the meeting my friend proposed on WeChat?", "n18", "cross"),
    Q("What was my blood pressure reading?", "n25", "cross"),
    Q("What's the pickup code for the parcel locker?", "n27", "cross"),
    Q("When is the credit card payment due?", "n29", "cross"),
    Q("How many liters of gas did I fill up?", "n33", "cross"),
    Q("How much weight did I lose in three months?", "n40", "cross"),
    Q("How long is the compressor warranty on the fridge?", "n44", "cross"),
    Q("How many points did I lose for speeding?", "n48", "cross"),
    Q("What was written on the birthday cake?", "n52", "cross"),
    Q("How late is the high-speed train to Nanjing?", "n60", "cross"),
    Q("How much was the hotpot dinner per person?", "r18", "cross"),
    Q("Which university sent the admission letter?", "d17", "cross"),
    Q("How big was the deposit on the flat I rented?", "d20", "cross"),
    Q("How much water did we use this billing period?", "n58", "cross"),
]


class Unrelated(NamedTuple):
    text: str
    dev: bool


U = Unrelated
UNRELATED: list[Unrelated] = [
    # development part
    U("What's happening in this picture?", True),
    U("Describe the image in one sentence.", True),
    U("What sport is being played in this photo?", True),
    U("What is the drummer holding?", True),
    U("Is this painting a watercolor?", True),
    U("What breed of horse is this?", True),
    U("Which planet is that bright dot in the sky?", True),
    U("What color is the dress in the image?", True),
    U("Who is the composer on this sheet music?", True),
    U("What is the climber using on the cliff?", True),
    U("How many players are on the field?", True),
    U("What is the elephant doing?", True),
    U("What kind of boat is in this picture?", True),
    U("What's the name of the lighthouse in the photo?", True),
    U("Is the surfer riding a big wave?", True),
    U("图片里是什么？", True),
    U("描述一下这张照片。", True),
    U("这张图片的背景是哪里？", True),
    U("照片里的乐队在演奏什么？", True),
    U("这个雕塑是什么材质？", True),
    U("图中的运动员是谁？", True),
    U("这是什么企鹅？", True),
    U("照片里的海浪大吗？", True),
    U("这张画用的是什么颜料？", True),
    U("这把吉他是什么牌子的？", True),
    U("图片里的篮球场在哪？", True),
    U("照片里的云是什么云？", True),
    U("这是什么花纹的地毯？", True),
    U("这个舞蹈叫什么？", True),
    U("这盘棋谁赢了？", True),
    # held-out part
    U("What instrument is the man in this image playing?", False),
    U("Describe this image briefly.", False),
    U("What is in the photo?", False),
    U("Who won the tennis match shown on the scoreboard?", False),
    U("What style of painting is this, impressionist or cubist?", False),
    U("How many strings does the guitar in the picture have?", False),
    U("What constellation is visible in this night sky photo?", False),
    U("Which football team is wearing the blue jerseys?", False),
    U("What kind of rock is this in my hand?", False),
    U("Is this chess position winning for white?", False),
    U("What knitting stitch is used in this scarf?", False),
    U("What is the giraffe in the photo eating?", False),
    U("What brand are these running shoes?", False),
    U("Can you tell what video game this screenshot is from?", False),
    U("What is the fish in this aquarium called?", False),
    U("Describe the clouds in this picture.", False),
    U("What yoga pose is she doing in the photo?", False),
    U("Who sculpted the statue in this image?", False),
    U("What is the score in this basketball game?", False),
    U("What is this origami figure?", False),
    U("How old does this violin look?", False),
    U("What's the name of this dance move?", False),
    U("这张图片里有什么？", False),
    U("照片里的人在干什么？", False),
    U("这张图片是什么乐器？", False),
    U("照片里的运动员在打什么球？", False),
    U("这幅画是谁画的？", False),
    U("照片里的湖泊叫什么名字？", False),
    U("图片里的钢琴是什么牌子？", False),
    U("这是什么品种的马？", False),
    U("照片里的星空能看到银河吗？", False),
    U("这件衣服是什么面料？", False),
    U("这场足球比赛的比分是多少？", False),
    U("图中的书法是什么字体？", False),
    U("这幅油画是什么风格？", False),
    U("照片里的熊猫在吃什么？", False),
    U("这个乒乓球拍是什么牌子？", False),
    U("这张图片拍的是日出还是日落？", False),
    U("照片里的瀑布有多高？", False),
    U("这把小提琴值多少钱？", False),
    U("这是哪种蝴蝶？", False),
    U("这张截图是哪个游戏？", False),
    U("图里的人在跳什么舞？", False),
    U("这块手表是什么牌子？", False),
    U("照片里的滑雪场在哪里？", False),
]


def dev() -> tuple[list[Query], list[str]]:
    """The development part: every third related question and the dev unrelated ones."""
    related = [q for i, q in enumerate(QUESTIONS) if i % 3 == 0]
    return related, [u.text for u in UNRELATED if u.dev]


def held_out() -> tuple[list[Query], list[str]]:
    """The held-out part: the other related questions and the other unrelated ones."""
    related = [q for i, q in enumerate(QUESTIONS) if i % 3 != 0]
    return related, [u.text for u in UNRELATED if not u.dev]
